"""The API's own surface: OpenAPI, health, validation of a workflow text, listings."""

from __future__ import annotations

import httpx2

from tests.support import Server, write_workflow


def test_openapi_health_and_metrics(server: Server) -> None:
    spec = httpx2.get(f"{server.url}/openapi.json").json()
    for path in (
        "/hooks/{source}/{token}",
        "/dockerhub-webhook/{token}/notify",
        "/dockerregistry-webhook/{token}/notify",
        "/api/v1/events",
        "/api/v1/events/{event_id}/replay",
        "/api/v1/runs/{run_id}/logs",
        "/api/v1/runs/{run_id}/cancel",
        "/api/v1/runs/{run_id}/rerun",
        "/api/v1/approvals/{approval_id}/approve",
        "/api/v1/approvals/{approval_id}/reject",
        "/api/v1/workflows/validate",
        "/api/v1/hooks",
    ):
        assert path in spec["paths"], path
    assert httpx2.get(f"{server.url}/healthz").json()["status"] == "ok"
    ready = httpx2.get(f"{server.url}/readyz").json()
    assert ready["checks"] == {"database": "ok", "engine": "ok"}
    assert httpx2.get(f"{server.url}/metrics").status_code == 200


def test_validate_endpoint_reports_positions(server: Server) -> None:
    text = (
        "name: x\non:\n  image:\n    repositories: ['a/b']\n"
        "jobs:\n  a:\n    steps:\n      - run: echo\n        retries: many\n"
    )
    with server.client() as c:
        answer = c.post(
            "/api/v1/workflows/validate",
            content=text,
            headers={"Content-Type": "application/yaml"},
            params={"filename": "x.yaml"},
        ).json()
    assert answer["valid"] is False
    (problem,) = answer["problems"]
    assert (problem["file"], problem["line"], problem["column"]) == ("x.yaml", 9, 18)


def test_workflows_listing_shows_problems(server: Server) -> None:
    write_workflow(
        server.settings,
        "good",
        "name: good\non_unresolved: tag\non: {image: {repositories: ['**']}}\n"
        "jobs: {a: {steps: [{run: 'true'}]}}\n",
    )
    write_workflow(
        server.settings,
        "bad",
        "name: bad\non_unresolved: tag\non: {image: {repositories: []}}\njobs: {}\n",
    )
    with server.client() as c:
        listing = c.get("/api/v1/workflows").json()
    assert [w["name"] for w in listing["workflows"]] == ["good"]
    assert listing["problems"] and all(p["file"].endswith("bad.yaml") for p in listing["problems"])


def test_unknown_ids_are_404_with_json(server: Server) -> None:
    with server.client() as c:
        for path in ("/api/v1/runs/run_nope", "/api/v1/events/ev_nope"):
            response = c.get(path)
            assert response.status_code == 404
            assert response.json()["error"] == "not_found"
        assert c.post("/api/v1/approvals/ap_nope/approve", json={}).status_code == 404
