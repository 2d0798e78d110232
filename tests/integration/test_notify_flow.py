"""`notify:` in a workflow: Apprise to a Slack-like stand-in, filtered by `when:`."""

from __future__ import annotations

import json
from collections.abc import Callable

from pytest_httpserver import HTTPServer

from tests.support import Server, eventually, write_workflow
from tidegate.events.sources.dockerhub import dockerhub_payload


def test_notifications_follow_when(
    server_factory: Callable[..., Server], httpserver_ipv4: HTTPServer
) -> None:
    hub = httpserver_ipv4
    hub.expect_request("/chat", method="POST").respond_with_json({"ok": True})
    server = server_factory(notify_allowed_hosts=[f"127.0.0.1:{hub.port}"])
    write_workflow(
        server.settings,
        "notes",
        f"""
name: notes
on_unresolved: tag
on: {{image: {{repositories: ["acme/*"]}}}}
jobs:
  gate:
    if: event.tag.startsWith("v")
    approval: {{approvers: [admin]}}
  test:
    steps:
      - run: test "$TIDEGATE_TAG" != "bad"
finally:
  - notify:
      urls: ["json://127.0.0.1:{hub.port}/chat", "json://chat.example.invalid/elsewhere"]
      when: [failure, approval]
""",
    )
    ok = server.post_hook("dockerhub", dockerhub_payload("acme/web:good")).json()["runs"][0]
    assert server.wait_run(ok)["status"] == "succeeded"
    assert hub.log == []  # success is not in `when`

    gated = server.post_hook("dockerhub", dockerhub_payload("acme/web:v3")).json()["runs"][0]
    eventually(lambda: len(hub.log) == 1)
    approval_note = json.loads(hub.log[0][0].get_data())
    assert "approval" in approval_note["title"].lower()
    assert f"{server.settings.base_url}/runs/{gated}#approval" in approval_note["message"]
    (approval,) = server.run(gated)["approvals"]
    with server.client() as c:
        c.post(f"/api/v1/approvals/{approval['id']}/reject", json={"comment": "no"})
    assert server.wait_run(gated)["status"] == "failed"
    eventually(lambda: len(hub.log) == 2)
    failure_note = json.loads(hub.log[1][0].get_data())
    assert "failed" in failure_note["title"]

    deliveries = server.run(gated)["deliveries"]
    refused = [d for d in deliveries if d["error"] == "refused"]
    assert refused and all("chat.example.invalid" in d["target"] for d in refused)
    assert len(hub.log) == 2  # the off-list host was never tried; nothing more was sent
