"""The `tidegate` command against a real server process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support import ServeProcess, eventually, serve_env
from tidegate.cli import app

runner = CliRunner()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    env = serve_env(tmp_path)
    (tmp_path / "workflows" / "gate.yaml").write_text(
        """
name: gate
on_unresolved: tag
on: {image: {repositories: ["acme/*"], tags: ["v*"]}}
jobs:
  check:
    steps:
      - run: echo "checking $TIDEGATE_IMAGE"
  approve:
    needs: [check]
    approval: {approvers: [admin]}
"""
    )
    process = ServeProcess(env=env, cwd=tmp_path, url=env["TIDEGATE_URL"]).start()
    try:
        yield process
    finally:
        process.stop()


def cli(serve: ServeProcess, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=serve.env)
    return result.exit_code, result.stdout, result.stderr


def test_simulate_runs_logs_approve(serve: ServeProcess) -> None:
    code, out, err = cli(serve, "simulate", "dockerhub", "acme/web:v1.2.3", "--json", "--wait")
    assert code == 0, err
    (run_id,) = json.loads(out)["runs"]
    code, out, _ = cli(serve, "runs", "--json", "--status", "waiting")
    assert [r["id"] for r in json.loads(out)] == [run_id]
    code, out, _ = cli(serve, "logs", run_id)
    assert code == 0 and "checking docker.io/acme/web:v1.2.3" in out
    code, out, _ = cli(serve, "run", "show", run_id, "--json")
    assert json.loads(out)["approvals"][0]["status"] == "pending"
    code, out, _ = cli(serve, "run", "show", run_id)  # the links point at the run page
    assert f"page  {serve.url}/runs/{run_id}" in out
    assert f"decide at {serve.url}/runs/{run_id}#approval" in out

    code, out, err = cli(serve, "approve", run_id, "--comment", "ship it")
    assert code == 0, err
    assert "approved" in out
    eventually(lambda: serve.run(run_id)["status"] == "succeeded")
    code, out, _ = cli(serve, "logs", run_id, "--follow")
    assert code == 0 and "checking" in out


def test_reject_cancel_rerun_replay_events(serve: ServeProcess) -> None:
    _, out, _ = cli(serve, "simulate", "dockerhub", "acme/web:v2", "--json", "--wait")
    (run_id,) = json.loads(out)["runs"]
    code, out, _ = cli(serve, "reject", run_id, "--comment", "not today")
    assert code == 0 and "rejected" in out
    assert serve.wait_run(run_id)["status"] == "failed"

    code, out, _ = cli(serve, "rerun", run_id)
    assert code == 0
    rerun_id = out.strip()
    eventually(lambda: serve.run(rerun_id)["status"] == "waiting")
    code, out, _ = cli(serve, "cancel", rerun_id)
    assert code == 0
    assert serve.wait_run(rerun_id)["status"] == "cancelled"

    code, out, _ = cli(serve, "events", "--json")
    (event,) = json.loads(out)
    code, out, _ = cli(serve, "replay", event["id"])
    assert code == 0 and out.strip().startswith("run_")

    code, _out, err = cli(serve, "cancel", run_id)  # already finished
    assert code == 1 and "finished" in err


def test_hook_and_token_commands(serve: ServeProcess) -> None:
    code, out, _ = cli(serve, "hook", "create", "registry", "--name", "ci registry")
    assert code == 0
    url = out.strip()
    assert url.startswith(serve.url + "/hooks/registry/tgh_")
    code, out, _ = cli(serve, "hook", "list", "--json")
    hooks = json.loads(out)
    created = next(h for h in hooks if h["name"] == "ci registry")
    code, _, _ = cli(serve, "hook", "revoke", created["id"])
    assert code == 0
    import httpx2

    assert httpx2.post(url, content=b'{"events": []}').status_code == 404

    code, out, _ = cli(serve, "token", "create", "vera", "--role", "viewer")
    viewer = out.strip()
    env = {**serve.env, "TIDEGATE_TOKEN": viewer}
    result = runner.invoke(app, ["runs", "--json"], env=env)
    assert result.exit_code == 0
    result = runner.invoke(app, ["cancel", "run_nope"], env=env)
    assert result.exit_code == 1 and "approver" in result.stderr
    result = runner.invoke(app, ["token", "create", "x", "--role", "king"], env=env)
    assert result.exit_code == 2

    # A leaked token is listed (never shown again) and revoked: from then on, 401.
    code, out, _ = cli(serve, "token", "list", "--json")
    listed = json.loads(out)
    (vera,) = [t for t in listed if t["user"] == "vera"]
    assert vera["role"] == "viewer" and viewer not in out
    code, out, _ = cli(serve, "token", "revoke", vera["id"])
    assert code == 0 and "revoked" in out
    result = runner.invoke(app, ["runs", "--json"], env=env)
    assert result.exit_code == 1 and "401" in result.stderr + result.stdout
    code, out, _ = cli(serve, "token", "list", "--json")
    assert vera["id"] not in out
    code, _, err = cli(serve, "token", "revoke", "tk_nope")
    assert code == 1 and "does not exist" in err


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    env = serve_env(tmp_path)
    result = runner.invoke(app, ["runs"], env={**env, "TIDEGATE_TOKEN": "tga_x"})
    assert result.exit_code == 1
    assert "cannot reach the server" in result.stderr
