"""Approvals: waiting without a thread, who may decide, how many, reject and timeout."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support import Server, eventually, write_workflow
from tidegate.events.sources.dockerhub import dockerhub_payload
from tidegate.store.db import Database
from tidegate.store.models import Approval


def workflow(done: Path, required: int = 2, timeout: str = "1h") -> str:
    return f"""
name: gated
on_unresolved: tag
on: {{image: {{repositories: ["acme/*"]}}}}
jobs:
  approve:
    approval:
      approvers: [alice, bob, "group:release"]
      required: {required}
      timeout: {timeout}
      message: "ship ${{{{ event.tag }}}}?"
  deploy:
    needs: [approve]
    steps:
      - run: touch {done}
"""


def start_waiting(server: Server) -> tuple[str, str]:
    response = server.post_hook("dockerhub", dockerhub_payload("acme/web:v2"))
    (run_id,) = response.json()["runs"]
    eventually(lambda: server.run(run_id)["status"] == "waiting")
    (approval,) = server.run(run_id)["approvals"]
    return run_id, approval["id"]


def decide(server: Server, token: str, approval_id: str, verb: str, comment: str = "") -> int:
    with server.client(token) as c:
        response = c.post(f"/api/v1/approvals/{approval_id}/{verb}", json={"comment": comment})
        return int(response.status_code)


def test_two_distinct_approvers_resume_the_run(server: Server, tmp_path: Path) -> None:
    done = tmp_path / "deployed"
    write_workflow(server.settings, "gated", workflow(done))
    run_id, approval_id = start_waiting(server)
    with server.client() as c:
        inbox = c.get("/api/v1/approvals").json()
    assert [a["id"] for a in inbox] == [approval_id]
    assert inbox[0]["message"] == "ship v2?" and inbox[0]["required"] == 2

    viewer_alice = server.token("alice", "viewer")
    carol = server.token("carol", "approver")  # an approver, but not listed here
    alice = server.token("alice", "approver")
    bob = server.token("bob", "approver")
    assert decide(server, viewer_alice, approval_id, "approve") == 403
    assert decide(server, carol, approval_id, "approve") == 403

    assert decide(server, alice, approval_id, "approve", "looks good") == 200
    assert decide(server, alice, approval_id, "approve") == 200  # the same person twice
    assert server.run(run_id)["status"] == "waiting"
    assert not done.exists()

    assert decide(server, bob, approval_id, "approve", "ship it") == 200
    run = server.wait_run(run_id)
    assert run["status"] == "succeeded"
    assert done.exists()
    (approval,) = run["approvals"]
    assert approval["status"] == "approved"
    decisions = {d["user"]: d for d in approval["decisions"]}
    assert decisions["alice"]["comment"] == "looks good"
    assert decisions["bob"]["decision"] == "approve" and decisions["bob"]["at"]
    assert decide(server, bob, approval_id, "reject") == 409  # settled


def test_group_member_can_reject(server_factory: Callable[..., Server], tmp_path: Path) -> None:
    server = server_factory(groups={"release": ["dana"]})
    done = tmp_path / "deployed"
    write_workflow(server.settings, "gated", workflow(done))
    run_id, approval_id = start_waiting(server)
    assert decide(server, server.token("dana", "approver"), approval_id, "reject", "no") == 200
    run = server.wait_run(run_id)
    assert run["status"] == "failed"
    assert {j["job_id"]: j["status"] for j in run["jobs"]} == {
        "approve": "failed",
        "deploy": "skipped",
    }
    assert run["approvals"][0]["status"] == "rejected"
    assert not done.exists()


def test_timeout_rejects(server: Server, tmp_path: Path) -> None:
    done = tmp_path / "deployed"
    write_workflow(server.settings, "gated", workflow(done, required=1, timeout="2s"))
    run_id, _approval_id = start_waiting(server)
    run = server.wait_run(run_id, timeout=30)
    assert run["status"] == "failed"
    assert run["approvals"][0]["status"] == "timed_out"
    assert not done.exists()


def test_cancel_closes_a_waiting_approval(server: Server, tmp_path: Path) -> None:
    done = tmp_path / "deployed"
    write_workflow(server.settings, "gated", workflow(done, required=1))
    run_id, approval_id = start_waiting(server)
    with server.client() as c:
        assert c.post(f"/api/v1/runs/{run_id}/cancel").status_code == 202
    run = server.wait_run(run_id, timeout=30)
    assert run["status"] == "cancelled"
    assert run["approvals"][0]["status"] == "cancelled"
    assert decide(server, server.token("alice", "approver"), approval_id, "approve") == 409


def test_two_approvers_at_once_settle_it_once(server: Server, tmp_path: Path) -> None:
    done = tmp_path / "deployed"
    write_workflow(server.settings, "gated", workflow(done, required=2))
    run_id, approval_id = start_waiting(server)
    tokens = [server.token("alice", "approver"), server.token("bob", "approver")]
    barrier = threading.Barrier(len(tokens))

    def approve(token: str) -> int:
        barrier.wait()
        return decide(server, token, approval_id, "approve")

    with ThreadPoolExecutor(len(tokens)) as pool:
        codes = list(pool.map(approve, tokens))
    assert codes == [200, 200]
    run = server.wait_run(run_id)
    assert run["status"] == "succeeded" and done.exists()
    assert run["approvals"][0]["status"] == "approved"
    assert len(run["approvals"][0]["decisions"]) == 2


def test_decision_after_the_deadline_is_refused(server: Server, tmp_path: Path) -> None:
    done = tmp_path / "deployed"
    write_workflow(server.settings, "gated", workflow(done, required=1, timeout="1h"))
    run_id, approval_id = start_waiting(server)
    # As if the engine were down when the deadline passed: only the row says it.
    db = Database(server.settings.db_url)
    with db.session() as session:
        row = session.get(Approval, approval_id)
        assert row is not None
        row.deadline = datetime.now(UTC) - timedelta(seconds=1)
    db.dispose()
    assert decide(server, server.token("alice", "approver"), approval_id, "approve") == 409
    run = server.wait_run(run_id, timeout=60)
    assert run["status"] == "failed"
    assert run["approvals"][0]["status"] == "timed_out"
    assert not done.exists()
