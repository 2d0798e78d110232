"""Binding a `registry` hook to its registries, through the API and the CLI, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support import Server, serve_env
from tidegate.cli import app
from tidegate.events.sources import SOURCES

runner = CliRunner()


def test_api_creates_and_lists_a_bound_hook(server: Server) -> None:
    with server.client() as c:
        created = c.post(
            "/api/v1/hooks",
            json={
                "source": "registry",
                "name": "internal",
                "registries": ["Registry.Example.COM:443", "127.0.0.1:5000", "[0::1]:5000"],
            },
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        assert hook["registries"] == ["registry.example.com", "127.0.0.1:5000", "[::1]:5000"]
        assert hook["url"].startswith(f"{server.url}/hooks/registry/tgh_")
        plain = c.post("/api/v1/hooks", json={"source": "dockerhub"}).json()
        assert plain["registries"] == []
        listed = {h["id"]: h["registries"] for h in c.get("/api/v1/hooks").json()}
    assert listed[hook["id"]] == hook["registries"]
    assert listed[plain["id"]] == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"source": "registry", "registries": ["https://registry.example.com"]}, "leave out"),
        ({"source": "registry", "registries": ["registry.example.com:99999"]}, "port must be"),
        ({"source": "registry", "registries": ["*"]}, "not a host name"),
        ({"source": "registry", "registries": ["a" * 256]}, "at most 255"),
        ({"source": "registry", "registries": ["::1"]}, "in brackets"),
        (
            {"source": "dockerhub", "registries": ["registry.example.com"]},
            "dockerhub events name their registry",
        ),
    ],
)
def test_api_refuses_what_is_not_a_registry_binding(
    server: Server, body: dict[str, object], says: str
) -> None:
    with server.client() as c:
        answer = c.post("/api/v1/hooks", json=body)
        assert answer.status_code == 422
        assert answer.json()["error"] == "invalid_request"
        assert says in answer.json()["detail"]
        assert len(c.get("/api/v1/hooks").json()) == len(SOURCES)  # the first start's, no more


def test_cli_creates_and_lists_a_bound_hook(tmp_path: Path, database_url: str) -> None:
    env = serve_env(tmp_path, database_url)
    created = runner.invoke(
        app,
        [
            "hook",
            "create",
            "registry",
            "--name",
            "internal",
            "--registry",
            "Registry.Internal:5000",
            "--registry",
            "10.0.0.5",
        ],
        env=env,
    )
    assert created.exit_code == 0, created.stderr
    assert "/hooks/registry/tgh_" in created.stdout
    listed = runner.invoke(app, ["hook", "list", "--json"], env=env)
    (hook,) = json.loads(listed.stdout)
    assert hook["name"] == "internal"
    assert hook["registries"] == ["registry.internal:5000", "10.0.0.5"]
    table = runner.invoke(app, ["hook", "list"], env=env)
    assert "registry.internal:5000, 10.0.0.5" in table.stdout

    for args, says in (
        (["registry", "--registry", "registry.internal/acme"], "leave out scheme"),
        (["dockerhub", "--registry", "registry.internal"], "dockerhub events name their registry"),
    ):
        refused = runner.invoke(app, ["hook", "create", *args], env=env)
        assert refused.exit_code == 1
        assert says in refused.stderr
    listed = runner.invoke(app, ["hook", "list", "--json"], env=env)
    assert len(json.loads(listed.stdout)) == 1
