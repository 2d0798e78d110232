"""A run waiting for approval parks: its durable workflows end, the database says
`waiting`, and the decision (or cancel, or the deadline) continues it exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dbos import DBOS

from tests.support import Server, eventually, write_workflow
from tidegate.events.sources.dockerhub import dockerhub_payload


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def two_gates(marks: Path) -> str:
    """Two approvals side by side; a job after both, a job after one, and `finally`."""
    return f"""
name: gates
on_unresolved: tag
on: {{image: {{repositories: ["acme/*"]}}}}
jobs:
  qa:
    approval: {{approvers: [alice]}}
  security:
    approval: {{approvers: [bob]}}
  after_qa:
    needs: [qa]
    steps:
      - run: echo x >> {marks}/after_qa
  deploy:
    needs: [qa, security]
    steps:
      - run: echo x >> {marks}/deploy
finally:
  - run: echo x >> {marks}/finally
"""


def start(server: Server, approvals: int) -> tuple[str, dict[str, str]]:
    """Push; wait until the run parks with `approvals` pending. Returns the run and its
    approval ids by job."""
    response = server.post_hook("dockerhub", dockerhub_payload("acme/web:v1"))
    (run_id,) = response.json()["runs"]

    def parked() -> bool:
        run = server.run(run_id)
        opened = [a for a in run["approvals"] if a["status"] == "pending"]
        status = DBOS.get_workflow_status(run_id)
        # No workflow left waiting: the run's own has ended, and it says so.
        return (
            run["status"] == "waiting"
            and len(opened) == approvals
            and status is not None
            and status.status == "SUCCESS"
        )

    eventually(parked, timeout=30)
    return run_id, {a["job_id"]: a["id"] for a in server.run(run_id)["approvals"]}


def decide(server: Server, user: str, approval_id: str, verb: str) -> int:
    with server.client(server.token(user, "approver")) as c:
        return int(c.post(f"/api/v1/approvals/{approval_id}/{verb}", json={}).status_code)


def test_both_approvals_at_once_run_every_later_step_once(server: Server, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    write_workflow(server.settings, "gates", two_gates(marks))
    run_id, ids = start(server, approvals=2)
    deciders = [("alice", ids["qa"]), ("bob", ids["security"])]
    barrier = threading.Barrier(len(deciders))

    def approve(who: tuple[str, str]) -> int:
        barrier.wait()
        return decide(server, who[0], who[1], "approve")

    with ThreadPoolExecutor(len(deciders)) as pool:
        assert list(pool.map(approve, deciders)) == [200, 200]
    run = server.wait_run(run_id)
    assert run["status"] == "succeeded", run
    assert {j["job_id"]: j["status"] for j in run["jobs"]} == dict.fromkeys(
        ["qa", "security", "after_qa", "deploy"], "succeeded"
    )
    assert [lines(marks / name) for name in ("after_qa", "deploy", "finally")] == [1, 1, 1]


def test_one_decision_runs_what_it_unblocks_and_parks_again(server: Server, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    write_workflow(server.settings, "gates", two_gates(marks))
    run_id, ids = start(server, approvals=2)
    assert decide(server, "alice", ids["qa"], "approve") == 200
    eventually(lambda: lines(marks / "after_qa") == 1)
    # Only `security` is left: the continuation parks again, the run still waits.
    eventually(lambda: server.run(run_id)["status"] == "waiting", timeout=30)
    assert lines(marks / "deploy") == 0 and lines(marks / "finally") == 0

    assert decide(server, "bob", ids["security"], "reject") == 200
    run = server.wait_run(run_id)
    assert run["status"] == "failed"
    assert {j["job_id"]: j["status"] for j in run["jobs"]}["deploy"] == "skipped"
    assert [lines(marks / name) for name in ("after_qa", "deploy", "finally")] == [1, 0, 1]


def test_cancel_of_a_parked_run_runs_finally_once(server: Server, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    write_workflow(server.settings, "gates", two_gates(marks))
    run_id, _ids = start(server, approvals=2)
    with server.client() as c:
        assert c.post(f"/api/v1/runs/{run_id}/cancel").status_code == 202
    run = server.wait_run(run_id)
    assert run["status"] == "cancelled"
    assert {a["status"] for a in run["approvals"]} == {"cancelled"}
    assert [lines(marks / name) for name in ("after_qa", "deploy", "finally")] == [0, 0, 1]


def test_deadline_of_a_parked_run_fails_its_job(server: Server, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    text = two_gates(marks).replace("approvers: [bob]}", "approvers: [bob], timeout: 2s}")
    write_workflow(server.settings, "gates", text)
    run_id, ids = start(server, approvals=2)

    def timed_out() -> bool:
        states = {a["job_id"]: a["status"] for a in server.run(run_id)["approvals"]}
        return states["security"] == "timed_out"

    eventually(timed_out, timeout=30)
    eventually(lambda: server.run(run_id)["status"] == "waiting")  # for qa, still
    assert decide(server, "alice", ids["qa"], "approve") == 200
    run = server.wait_run(run_id)
    assert run["status"] == "failed"
    assert f"approval {ids['security']} timed out" in run["error"]
    assert [lines(marks / name) for name in ("after_qa", "deploy", "finally")] == [1, 0, 1]
