"""Webhook intake against a real server: statuses, bodies, and nothing half-stored."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest

from tests.support import Server, write_workflow

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"

ANY_PUSH = """
name: any
on_unresolved: tag
on:
  image:
    repositories: ["**"]
jobs:
  one:
    steps:
      - run: echo "$TIDEGATE_IMAGE"
"""


def counts(server: Server) -> tuple[int, int]:
    with server.client() as c:
        return len(c.get("/api/v1/events").json()), len(c.get("/api/v1/runs").json())


def test_dockerhub_push_is_stored_and_starts_a_run(server: Server) -> None:
    write_workflow(server.settings, "any", ANY_PUSH)
    body = (FIXTURES / "dockerhub" / "docs_example.json").read_bytes()
    response = server.post_hook("dockerhub", body)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert len(answer["events"]) == 1 and len(answer["runs"]) == 1
    run = server.wait_run(answer["runs"][0])
    assert run["status"] == "succeeded"
    assert run["event"]["registry"] == "docker.io"
    assert run["event"]["callback_url"].startswith("https://")


def test_form_encoded_payload_like_the_jenkins_plugin(server: Server) -> None:
    body = (FIXTURES / "dockerhub" / "docs_example.json").read_text()
    response = httpx2.post(server.hooks["dockerhub"], data={"payload": body}, timeout=30)
    assert response.status_code == 202, response.text
    assert len(response.json()["events"]) == 1


def test_jenkins_plugin_paths(server: Server) -> None:
    token = server.hooks["dockerhub"].rsplit("/", 1)[1]
    body = (FIXTURES / "dockerhub" / "official_image.json").read_bytes()
    response = httpx2.post(
        f"{server.url}/dockerhub-webhook/{token}/notify", content=body, timeout=30
    )
    assert response.status_code == 202, response.text
    reg_token = server.hooks["registry"].rsplit("/", 1)[1]
    envelope = (FIXTURES / "registry" / "push_with_blobs.json").read_bytes()
    response = httpx2.post(
        f"{server.url}/dockerregistry-webhook/{reg_token}/notify",
        content=envelope,
        headers={"Content-Type": "application/vnd.docker.distribution.events.v1+json"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    # The Docker Hub token does not open the registry path, and vice versa.
    wrong = httpx2.post(f"{server.url}/dockerregistry-webhook/{token}/notify", content=envelope)
    assert wrong.status_code == 404


def test_distribution_envelope_makes_one_run_and_redelivery_none(server: Server) -> None:
    write_workflow(server.settings, "any", ANY_PUSH)
    envelope = (FIXTURES / "registry" / "push_with_blobs.json").read_bytes()
    first = server.post_hook(
        "registry", envelope, "application/vnd.docker.distribution.events.v1+json"
    )
    assert first.status_code == 202, first.text
    assert len(first.json()["runs"]) == 1
    assert len(first.json()["ignored"]) == 3  # two blob pushes and a pull
    again = server.post_hook(
        "registry", envelope, "application/vnd.docker.distribution.events.v2+json"
    )
    assert again.status_code == 202
    assert again.json()["runs"] == [] and again.json()["events"] == []
    assert again.json()["duplicates"] == first.json()["events"]
    assert counts(server) == (1, 1)


def test_dockerhub_redelivery_is_stored_once(server: Server) -> None:
    write_workflow(server.settings, "any", ANY_PUSH)
    body = (FIXTURES / "dockerhub" / "docs_example.json").read_bytes()
    assert server.post_hook("dockerhub", body).status_code == 202
    assert server.post_hook("dockerhub", body).json()["runs"] == []
    assert counts(server) == (1, 1)


def test_unmatched_event_is_stored_and_shown(server: Server) -> None:
    body = (FIXTURES / "dockerhub" / "docs_example.json").read_bytes()
    answer = server.post_hook("dockerhub", body).json()
    assert answer["runs"] == [] and answer["unmatched"] == answer["events"]
    with server.client() as c:
        event = c.get(f"/api/v1/events/{answer['events'][0]}").json()
    assert event["run_count"] == 0 and event["runs"] == []


@pytest.mark.parametrize(
    ("token_change", "body", "status", "field"),
    [
        ("wrong-token", b"{}", 404, None),
        (None, b"{not json", 400, None),
        (None, json.dumps({"push_data": {"tag": "v1"}}).encode(), 400, "repository"),
        (None, json.dumps({"repository": {"repo_name": "a/b"}}).encode(), 400, "push_data"),
        (None, b"x" * (2 * 1024 * 1024), 413, None),
    ],
    ids=["wrong-token", "malformed-json", "missing-repository", "missing-push-data", "too-large"],
)
def test_bad_input_is_refused_and_nothing_stored(
    server: Server, token_change: str | None, body: bytes, status: int, field: str | None
) -> None:
    write_workflow(server.settings, "any", ANY_PUSH)
    url = server.hooks["dockerhub"]
    if token_change:
        url = url.rsplit("/", 1)[0] + "/tgh_" + token_change
    response = httpx2.post(
        url, content=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"] and error["detail"]
    if field:
        assert error["field"] and error["field"].startswith(field)
    assert counts(server) == (0, 0)


def test_revoked_hook_answers_404(server: Server) -> None:
    with server.client() as c:
        created = c.post("/api/v1/hooks", json={"source": "dockerhub", "name": "ci"}).json()
        body = (FIXTURES / "dockerhub" / "docs_example.json").read_bytes()
        assert httpx2.post(created["url"], content=body).status_code == 202
        assert c.delete(f"/api/v1/hooks/{created['id']}").status_code == 200
    assert httpx2.post(created["url"], content=body).status_code == 404


def test_hooks_need_the_admin_role(server: Server) -> None:
    viewer = server.token("vera", "viewer")
    with server.client(viewer) as c:
        assert c.post("/api/v1/hooks", json={"source": "dockerhub"}).status_code == 403
        assert c.get("/api/v1/runs").status_code == 200
    assert httpx2.get(f"{server.url}/api/v1/runs").status_code == 401


def test_callback_url_is_shown_whole_to_admins_only(server: Server) -> None:
    body = (FIXTURES / "dockerhub" / "docs_example.json").read_bytes()
    (event_id,) = server.post_hook("dockerhub", body).json()["events"]
    secret_part = json.loads(body)["callback_url"].rstrip("/").rsplit("/", 1)[1]
    with server.client(server.token("vera", "viewer")) as c:
        seen = c.get(f"/api/v1/events/{event_id}").text + c.get("/api/v1/events").text
    assert secret_part not in seen
    with server.client() as c:
        assert secret_part in c.get(f"/api/v1/events/{event_id}").text
