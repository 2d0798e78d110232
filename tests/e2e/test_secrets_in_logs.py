"""Planted secrets never reach the server's log or the runs' log table, whatever is sent.

Replays the reproduced leak: a PostgreSQL insert that failed (a pusher past the column's
width) printed its parameters, a Docker Hub callback URL among them, to the server log.
Then the hostile corpus in every field of every source, a callback that fails, and a
step that prints a secret under `set -x`.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
import sqlalchemy as sa

from tests.hostile import PLACES, body_with, corpus
from tests.support import ServeProcess, free_port, serve_env
from tidegate.config import Settings
from tidegate.store.db import make_engine

pytestmark = pytest.mark.slow

DEPLOY_KEY = "dk-3b1f9c2e-planted-secret"
CALLBACK_SECRET = "cb-7a0d4e88-planted-secret"
REGISTRY_PASSWORD = "rp-51c9aa07-planted-secret"

WORKFLOW = """
name: leaky
on_unresolved: tag
on: {image: {repositories: ["corpus/app"]}}
jobs:
  show:
    steps:
      - run: |
          set -x
          echo "key ${{ secrets.DEPLOY_KEY }}"
          echo "callback ${{ event.callback_url }}"
finally:
  - callback: dockerhub
"""


def test_no_planted_secret_reaches_a_log(tmp_path: Path, database_url: str) -> None:
    closed = free_port()  # nothing listens: every callback attempt fails
    env = serve_env(
        tmp_path,
        database_url,
        TIDEGATE_SECRET_DEPLOY_KEY=DEPLOY_KEY,
        TIDEGATE_CALLBACK_ALLOWED_HOSTS=f"127.0.0.1:{closed}",
        TIDEGATE_CALLBACK_ATTEMPTS="2",
        TIDEGATE_REGISTRY_LOGINS=json.dumps({f"127.0.0.1:{closed}": f"ci:{REGISTRY_PASSWORD}"}),
    )
    (tmp_path / "workflows" / "leaky.yaml").write_text(WORKFLOW)
    serve = ServeProcess(env=env, cwd=tmp_path, url=env["TIDEGATE_URL"]).start()
    callback = f"http://127.0.0.1:{closed}/u/acme/web/hook/{CALLBACK_SECRET}/"
    runs: list[str] = []
    try:
        serial = 0
        for source, (_fixture, places) in sorted(PLACES.items()):
            for path in places:
                for value in corpus(tmp_path / "PWNED"):
                    serial += 1
                    doc = json.loads(body_with(source, path, value, serial))
                    if source == "dockerhub":
                        doc["callback_url"] = callback
                        if path == ("push_data", "pusher") and serial % 2:
                            doc["push_data"]["pusher"] = "p" * 256  # the width attack
                    body = json.dumps(doc, ensure_ascii=True).encode()
                    response = httpx2.post(serve.hooks[source], content=body, timeout=30)
                    assert response.status_code < 500, response.text
                    if response.status_code == 202:
                        runs += response.json()["runs"]
        assert runs
        for run_id in runs:
            assert serve.wait_run(run_id, timeout=120)["status"] == "succeeded"
        with serve.client() as c:
            logs = "\n".join(c.get(f"/api/v1/runs/{r}/logs").text for r in runs[:5])
        assert "key ***" in logs  # the step ran and printed, masked
        tokens = [serve.admin_token, *(url.rsplit("/", 1)[1] for url in serve.hooks.values())]
    finally:
        serve.stop()

    server_log = (tmp_path / "serve.log").read_text(errors="replace")
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    engine = make_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            log_table = "\n".join(conn.scalars(sa.text("SELECT text FROM log_lines")))
            deliveries = "\n".join(
                f"{target} {error}"
                for target, error in conn.execute(sa.text("SELECT target, error FROM deliveries"))
            )
    finally:
        engine.dispose()
    assert "callback" in log_table and deliveries  # the callback was tried, and failed
    for secret in (DEPLOY_KEY, CALLBACK_SECRET, REGISTRY_PASSWORD, *tokens):
        assert secret not in server_log, secret
        assert secret not in log_table, secret
        assert secret not in deliveries, secret


def test_database_errors_carry_no_parameters(tmp_path: Path, database_url: str) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    engine = make_engine(settings.db_url)
    table = sa.Table(
        "secrets_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("value", sa.String(10)),
    )  # fmt: skip
    try:
        table.create(engine)
        with pytest.raises(sa.exc.DBAPIError) as failed, engine.begin() as conn:
            conn.execute(table.insert(), [{"id": 1, "value": "ok"}])
            conn.execute(table.insert(), [{"id": 1, "value": CALLBACK_SECRET[:10]}])
        assert CALLBACK_SECRET[:10] not in str(failed.value)
        assert "hidden" in str(failed.value)
    finally:
        engine.dispose()
