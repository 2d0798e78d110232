"""The audit trail: hooks and tokens from the API and the CLI, `/api/v1/audit`, a run's."""

from __future__ import annotations

import json

import httpx2

from tests.integration.test_user_cli import ME, cli
from tests.support import Server, eventually, write_workflow
from tidegate.events.sources.dockerhub import dockerhub_payload

GATED = """
name: gated
on_unresolved: tag
on: {image: {repositories: ["acme/*"]}}
jobs:
  approve:
    approval: {approvers: [alice, bob], required: 2}
"""


def audit(server: Server, **params: object) -> list[dict[str, object]]:
    with server.client() as c:
        answer = c.get("/api/v1/audit", params=params)
        assert answer.status_code == 200, answer.text
        return list(answer.json())


def test_hooks_and_tokens_are_audited_and_listed_to_admins(server: Server) -> None:
    with server.client() as c:
        hook = c.post("/api/v1/hooks", json={"source": "registry", "name": "ci"}).json()
        assert c.delete(f"/api/v1/hooks/{hook['id']}").status_code == 200
        assert c.delete(f"/api/v1/hooks/{hook['id']}").status_code == 200  # again: no entry
    code, _, err = cli(server, "token", "create", "vera", "--role", "viewer")
    assert code == 0, err
    code, out, _ = cli(server, "token", "list", "--json")
    (vera,) = [t for t in json.loads(out) if t["user"] == "vera"]
    assert cli(server, "token", "revoke", vera["id"])[0] == 0
    assert cli(server, "hook", "create", "dockerhub", "--name", "hub")[0] == 0

    entries = audit(server)
    seen = [(e["actor"], e["action"], e["target"]) for e in entries]
    assert seen[:4] == [
        (ME, "hook.create", seen[0][2]),
        (ME, "token.revoke", vera["id"]),
        (ME, "token.create", vera["id"]),
        ("admin", "hook.revoke", hook["id"]),
    ]
    assert seen[4] == ("admin", "hook.create", hook["id"])
    assert entries[4]["detail"] == "registry 'ci'" and entries[2]["detail"] == "vera (viewer)"
    assert "tgh_" not in str(entries) and "tga_" not in str(entries)  # never a secret

    assert [e["action"] for e in audit(server, target=hook["id"])] == [
        "hook.revoke",
        "hook.create",
    ]
    assert {e["actor"] for e in audit(server, actor="admin")} == {"admin"}
    first = audit(server, limit=2)
    after = audit(server, limit=2, before=first[-1]["id"])
    assert [e["id"] for e in first + after] == [e["id"] for e in entries[:4]]

    with server.client(server.token("vera", "viewer")) as c:
        assert c.get("/api/v1/audit").status_code == 403
    assert httpx2.get(f"{server.url}/api/v1/audit", timeout=30).status_code == 401
    spec = httpx2.get(f"{server.url}/openapi.json", timeout=30).json()
    assert "/api/v1/audit" in spec["paths"]
    assert "AuditOut" in spec["components"]["schemas"]
    assert "audit" in spec["components"]["schemas"]["RunDetail"]["properties"]


def test_a_run_shows_what_people_did_to_it(server: Server) -> None:
    write_workflow(server.settings, "gated", GATED)
    (run_id,) = server.post_hook("dockerhub", dockerhub_payload("acme/web:v3")).json()["runs"]
    eventually(lambda: server.run(run_id)["status"] == "waiting")
    (approval,) = server.run(run_id)["approvals"]
    with server.client(server.token("alice", "approver")) as c:
        path = f"/api/v1/approvals/{approval['id']}/approve"
        assert c.post(path, json={"comment": "fine"}).status_code == 200
        assert c.post(f"/api/v1/runs/{run_id}/cancel").status_code == 202
    run = server.wait_run(run_id)
    trail = [(a["actor"], a["action"], a["target"], a["detail"]) for a in run["audit"]]
    assert trail == [
        ("alice", "approval.approve", approval["id"], "fine"),
        ("alice", "run.cancel", run_id, ""),
    ]
