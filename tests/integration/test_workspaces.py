"""A run's workspace goes when it succeeds, stays a while after a failure, and the prune
removes it after that; a pruned run's durable records go with it (both databases)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from dbos import DBOS

from tests.support import Server, eventually, post_push, write_workflow
from tidegate.engine import workspaces
from tidegate.engine.prune import prune_once
from tidegate.engine.runtime import Runtime
from tidegate.security.allowlist import AllowList
from tidegate.store.db import Database
from tidegate.store.models import utcnow

WORKFLOW = """
name: {name}
on_unresolved: tag
on: {{image: {{repositories: ["acme/{name}"]}}}}
jobs:
  build:
    steps:
      - run: echo built > "$TIDEGATE_WORKSPACE/out"; exit {code}
"""


def runtime_of(server: Server) -> Runtime:
    return Runtime(
        settings=server.settings,
        db=Database(server.settings.db_url),
        executors={},
        callback_allow=AllowList([]),
        notify_allow=AllowList([]),
    )


def test_a_workspace_goes_with_its_run_and_stays_a_while_after_a_failure(server: Server) -> None:
    write_workflow(server.settings, "ok", WORKFLOW.format(name="ok", code=0))
    write_workflow(server.settings, "bad", WORKFLOW.format(name="bad", code=1))
    (ok,) = post_push(server, "acme/ok:v1")
    (bad,) = post_push(server, "acme/bad:v1")
    assert server.wait_run(ok)["status"] == "succeeded"
    assert server.wait_run(bad)["status"] == "failed"
    root = server.settings.data_dir / "workspaces"

    assert not (root / ok).exists()  # gone as the run ended
    assert (root / bad / "out").read_text() == "built\n"  # kept to look at

    runtime = runtime_of(server)
    try:
        later = utcnow() + timedelta(hours=server.settings.workspace_keep_failed_hours)
        assert workspaces.sweep(runtime, later - timedelta(hours=1)) == 0
        assert (root / bad).exists()
        assert workspaces.sweep(runtime, later + timedelta(minutes=1)) == 1
        assert not (root / bad).exists()
    finally:
        runtime.db.dispose()


def test_the_prune_removes_finished_runs_with_their_durable_records(server: Server) -> None:
    write_workflow(server.settings, "ok", WORKFLOW.format(name="ok", code=0))
    (run_id,) = post_push(server, "acme/ok:v1")
    assert server.wait_run(run_id)["status"] == "succeeded"
    assert DBOS.get_workflow_status(run_id) is not None

    runtime = runtime_of(server)
    try:
        soon = prune_once(runtime, now=utcnow() + timedelta(days=29))
        assert soon is not None and soon.runs == 0
        removed = prune_once(runtime, now=utcnow() + timedelta(days=31))
    finally:
        runtime.db.dispose()

    assert removed is not None and removed.runs == 1 and removed.events == 1
    with server.client() as c:
        assert c.get(f"/api/v1/runs/{run_id}").status_code == 404
    assert DBOS.get_workflow_status(run_id) is None
    assert DBOS.get_workflow_status(f"{run_id}.build") is None


def test_the_server_prunes_on_its_schedule(server_factory: Callable[..., Server]) -> None:
    # A second's retention and a prune every half second: the schedule, sped up.
    server = server_factory(retention_days=1 / 86_400, prune_interval=0.5)
    write_workflow(server.settings, "ok", WORKFLOW.format(name="ok", code=0))
    (run_id,) = post_push(server, "acme/ok:v1")
    assert server.wait_run(run_id)["status"] == "succeeded"

    def gone() -> bool:
        with server.client() as c:
            return c.get(f"/api/v1/runs/{run_id}").status_code == 404

    eventually(gone)
