"""`tidegate hook create SOURCE [--secret]` and `tidegate simulate` for the sources that
sign: the secret is made or taken, shown once, and what the sender sends is checked
with it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.support import make_settings, serve_env, start_server
from tidegate.cli import app

SECRET = "a-harbor-auth-header-0123456789"


def test_hooks_take_or_make_a_secret_and_simulate_signs_with_it(
    tmp_path: Path, database_url: str
) -> None:
    env = serve_env(tmp_path, database_url)
    settings = make_settings(
        tmp_path, database_url, port=int(env["TIDEGATE_PORT"]), run_engine=False
    )
    server = start_server(settings)
    runner = CliRunner()
    try:
        # The first start's hooks: simulate signs with the secret it wrote down.
        written = json.loads((settings.data_dir / "credentials.json").read_text())
        assert set(written["hook_secrets"]) == {
            "harbor", "ghcr", "acr", "ecr", "artifactory", "cloudevents"
        }  # fmt: skip
        for source in ("harbor", "ghcr", "quay"):
            sent = runner.invoke(app, ["simulate", source, "acme/web:v1", "--json"], env=env)
            assert sent.exit_code == 0, sent.stderr
            assert len(json.loads(sent.stdout)["events"]) == 1

        made = runner.invoke(app, ["hook", "create", "ghcr", "--name", "org"], env=env)
        assert made.exit_code == 0, made.stderr
        url, secret = made.stdout.split()
        assert len(secret) >= 40 and "URL and secret are shown only now" in made.stderr

        given = runner.invoke(
            app, ["hook", "create", "harbor", "--secret", "-"], input=SECRET + "\n", env=env
        )
        assert given.exit_code == 0, given.stderr
        assert SECRET not in given.stdout and len(given.stdout.split()) == 1

        for url_, key in ((url, secret), (given.stdout.strip(), SECRET)):
            source = url_.split("/")[-2]
            args = ["simulate", source, "acme/web:v2", "--hook-url", url_, "--json"]
            ok = runner.invoke(app, [*args, "--secret", key], env=env)
            assert ok.exit_code == 0, ok.stderr
            wrong = runner.invoke(app, [*args, "--secret", "x" * 20], env=env)
            assert wrong.exit_code != 0
            assert "unverified" in wrong.stderr or "401" in wrong.stderr

        for args, says in (
            (["quay", "--secret", SECRET], "signs nothing"),
            (["ghcr", "--secret", "short"], "16 to 512"),
            (["acr", "--secret", SECRET, "--secret-header", "x-key"], "its own choosing"),
        ):
            refused = runner.invoke(app, ["hook", "create", *args], env=env)
            assert refused.exit_code == 1 and says in refused.stderr, refused.stderr
        listed = runner.invoke(app, ["hook", "list", "--json"], env=env)
        assert SECRET not in listed.stdout and secret not in listed.stdout
    finally:
        server.stop()
