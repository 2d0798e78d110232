"""The engine through its API, where a test acts on a run while it goes: cancel, re-run and
replay, edits and concurrency. Runs that only need a push and a look at the end are
scenarios (tests/fixtures/scenarios, run by test_scenarios.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import Server, eventually, post_push, write_workflow
from tidegate.store.db import Database
from tidegate.store.models import Run


def test_cancel_kills_the_step_and_runs_finally(server: Server, tmp_path: Path) -> None:
    started, after = tmp_path / "started", tmp_path / "after"
    write_workflow(
        server.settings,
        "long",
        f"""
name: long
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  long:
    steps:
      - run: touch {started}; sleep 60
      - run: touch {after}
finally:
  - run: echo "final ${{{{ run.status }}}}"
""",
    )
    (run_id,) = post_push(server, "acme/web:v1")
    eventually(started.exists)
    t0 = time.monotonic()
    with server.client() as c:
        assert c.post(f"/api/v1/runs/{run_id}/cancel").status_code == 202
    run = server.wait_run(run_id, timeout=30)
    assert run["status"] == "cancelled"
    assert time.monotonic() - t0 < 20  # killed, not waited for
    assert not after.exists()
    assert "final cancelled" in server.logs(run_id)
    with server.client() as c:
        assert c.post(f"/api/v1/runs/{run_id}/cancel").status_code == 409


def test_rerun_and_replay(server: Server, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    write_workflow(
        server.settings,
        "count",
        f"""
name: count
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  a:
    steps:
      - run: echo run >> {counter}
""",
    )
    (run_id,) = post_push(server, "acme/web:v1")
    first = server.wait_run(run_id)
    with server.client() as c:
        rerun = c.post(f"/api/v1/runs/{run_id}/rerun").json()["runs"][0]
        again = server.wait_run(rerun)
        assert again["status"] == "succeeded" and again["rerun_of"] == run_id
        replayed = c.post(f"/api/v1/events/{first['event_id']}/replay").json()["runs"]
    assert len(replayed) == 1
    assert server.wait_run(replayed[0])["status"] == "succeeded"
    assert counter.read_text().count("run") == 3


def test_snapshot_survives_workflow_edits(server: Server, tmp_path: Path) -> None:
    gate, out = tmp_path / "gate", tmp_path / "out"
    text = f"""
name: snap
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  a:
    steps:
      - run: while [ ! -e {gate} ]; do sleep 0.05; done
        timeout: 20s
      - run: echo original > {out}
"""
    path = write_workflow(server.settings, "snap", text)
    (run_id,) = post_push(server, "acme/web:v1")
    eventually(lambda: server.run(run_id)["status"] == "running")
    path.write_text(text.replace("original", "edited"))
    gate.touch()
    assert server.wait_run(run_id)["status"] == "succeeded"
    assert out.read_text().strip() == "original"


def test_concurrency_key_serialises_runs(server: Server, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    write_workflow(
        server.settings,
        "serial",
        f"""
name: serial
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
concurrency: deploy-${{{{ event.repository }}}}
jobs:
  a:
    steps:
      - run: while [ ! -e {gate} ]; do sleep 0.05; done
        timeout: 30s
""",
    )
    (first,) = post_push(server, "acme/web:v1")
    eventually(lambda: server.run(first)["status"] == "running")
    (second,) = post_push(server, "acme/web:v2")
    (other,) = post_push(server, "acme/api:v2")  # another key: not held back
    eventually(lambda: server.run(other)["status"] == "running")
    assert server.run(second)["status"] == "queued"
    gate.touch()
    assert server.wait_run(first)["status"] == "succeeded"
    assert server.wait_run(second)["status"] == "succeeded"
    assert server.wait_run(other)["status"] == "succeeded"


def test_server_environment_stays_out_of_steps(
    server_factory: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEGATE_SECRET_DEPLOY_KEY", "s3cr3t-value")
    monkeypatch.setenv("TIDEGATE_TOKEN", "tga_not_for_steps")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-steps-either")
    server = server_factory()
    out = tmp_path / "env.json"
    write_workflow(
        server.settings,
        "env",
        f"""
name: env
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  dump:
    steps:
      - run: python3 -c 'import json, os; json.dump(dict(os.environ), open("{out}", "w"))'
""",
    )
    (run_id,) = post_push(server, "acme/web:v1")
    assert server.wait_run(run_id)["status"] == "succeeded"
    env = json.loads(out.read_text())
    assert "PATH" in env
    leaked = {k for k in env if k.startswith("TIDEGATE_SECRET") or k == "TIDEGATE_TOKEN"}
    assert leaked == set() and "AWS_SECRET_ACCESS_KEY" not in env
    assert "s3cr3t-value" not in json.dumps(env)
    assert Path(env["TIDEGATE_WORKSPACE"]).is_absolute()


def test_unreadable_snapshot_ends_the_run_as_an_engine_error(server: Server) -> None:
    write_workflow(
        server.settings,
        "snap",
        'name: snap\non_unresolved: tag\non: {image: {repositories: ["**"]}}\n'
        'jobs: {a: {steps: [{run: "true"}]}}\n',
    )
    (run_id,) = post_push(server, "acme/web:v1")
    server.wait_run(run_id)
    # A snapshot this release cannot read (as after an incompatible upgrade).
    db = Database(server.settings.db_url)
    with db.session() as session:
        row = session.get(Run, run_id)
        assert row is not None
        row.workflow_text = "name: [unclosed"
        row.workflow_digest = "sha256:broken"
    db.dispose()
    with server.client() as c:
        (rerun,) = c.post(f"/api/v1/runs/{run_id}/rerun").json()["runs"]
    run = server.wait_run(rerun)
    assert run["status"] == "failed"
    assert run["error"].startswith("engine error")


def test_long_logs_are_served_whole(server: Server) -> None:
    write_workflow(
        server.settings,
        "chatty",
        'name: chatty\non_unresolved: tag\non: {image: {repositories: ["**"]}}\n'
        'jobs: {a: {steps: [{run: "seq 12000"}]}}\n',
    )
    (run_id,) = post_push(server, "acme/web:v1")
    assert server.wait_run(run_id)["status"] == "succeeded"
    lines = [line for line in server.logs(run_id).splitlines() if " stdout: " in line]
    assert len(lines) == 12000
    assert lines[-1].endswith(": 12000")
