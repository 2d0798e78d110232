"""Docker Hub's callback_url, end to end: the run's result reaches a stand-in Docker Hub."""

from __future__ import annotations

import json
from collections.abc import Callable

from pytest_httpserver import HTTPServer

from tests.support import Server, eventually, write_workflow
from tidegate.events.sources.dockerhub import dockerhub_payload

WORKFLOW = """
name: hub
on_unresolved: tag
on: {image: {repositories: ["acme/*"]}}
jobs:
  test:
    steps:
      - run: test "$TIDEGATE_TAG" != "broken"
finally:
  - callback: dockerhub
"""


def start(server_factory: Callable[..., Server], hub: HTTPServer) -> Server:
    server = server_factory(callback_allowed_hosts=[f"127.0.0.1:{hub.port}"])
    write_workflow(server.settings, "hub", WORKFLOW)
    return server


def push(server: Server, reference: str, callback_url: str) -> str:
    body = dockerhub_payload(reference, callback_url=callback_url)
    response = server.post_hook("dockerhub", body)
    assert response.status_code == 202, response.text
    (run_id,) = response.json()["runs"]
    return str(run_id)


def callbacks(hub: HTTPServer) -> list[dict[str, object]]:
    return [json.loads(request.get_data()) for request, _ in hub.log]


def test_success_and_failure_reach_the_callback_url(
    server_factory: Callable[..., Server], httpserver: HTTPServer
) -> None:
    httpserver.expect_request(
        "/u/acme/web/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/", method="POST"
    ).respond_with_json({})
    server = start(server_factory, httpserver)
    url = f"http://127.0.0.1:{httpserver.port}/u/acme/web/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/"

    ok = push(server, "acme/web:v1", url)
    assert server.wait_run(ok)["status"] == "succeeded"
    bad = push(server, "acme/web:broken", url)
    assert server.wait_run(bad)["status"] == "failed"

    received = callbacks(httpserver)
    assert [c["state"] for c in received] == ["success", "failure"]
    for body, run_id in zip(received, (ok, bad), strict=True):
        assert body["context"] == "tidegate"
        assert str(body["target_url"]).endswith(f"/runs/{run_id}")
        assert 0 < len(str(body["description"])) <= 255
    delivered = server.run(ok)["deliveries"]
    assert delivered[0]["kind"] == "callback" and delivered[0]["delivered"] is True
    # The secret part of the URL never reaches the run's records.
    assert "2141b5bi5i5b" not in json.dumps(delivered)


def test_callback_off_the_allow_list_is_never_contacted(
    server_factory: Callable[..., Server], httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook/").respond_with_json({})
    server = start(server_factory, httpserver)
    # Same server, other name: "localhost" is not on the allow-list.
    url = f"http://localhost:{httpserver.port}/hook/"
    run_id = push(server, "acme/web:v1", url)
    run = server.wait_run(run_id)
    assert run["status"] == "succeeded"  # a refused callback never changes the result
    assert httpserver.log == []
    (delivery,) = run["deliveries"]
    assert delivery["delivered"] is False and "allow" in delivery["error"]
    # The step does not claim a success the registry never heard of.
    (step,) = [s for s in run["steps"] if s["kind"] == "callback"]
    assert step["status"] == "undelivered" and "not delivered" in step["error"]


def test_callback_that_fails_every_attempt_is_undelivered_and_the_run_keeps_its_result(
    server_factory: Callable[..., Server], httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/cb/s3cr3tpart", method="POST").respond_with_data("down", status=502)
    server = server_factory(
        callback_allowed_hosts=[f"127.0.0.1:{httpserver.port}"], callback_attempts=3
    )
    write_workflow(server.settings, "hub", WORKFLOW)
    run_id = push(server, "acme/web:v1", f"http://127.0.0.1:{httpserver.port}/cb/s3cr3tpart")
    run = server.wait_run(run_id)
    assert run["status"] == "succeeded"  # what was reported (tried) stays the result
    (step,) = [s for s in run["steps"] if s["kind"] == "callback"]
    assert step["status"] == "undelivered"
    assert "not delivered after 3 attempts: HTTP 502" in step["error"]
    assert "s3cr3tpart" not in json.dumps([run["steps"], run["deliveries"]])
    assert "step undelivered: callback to" in server.logs(run_id)


def test_callback_retried_until_docker_hub_answers(
    server_factory: Callable[..., Server], httpserver: HTTPServer
) -> None:
    httpserver.expect_ordered_request("/cb", method="POST").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/cb", method="POST").respond_with_json({})
    server = start(server_factory, httpserver)
    run_id = push(server, "acme/web:v1", f"http://127.0.0.1:{httpserver.port}/cb")
    run = server.wait_run(run_id)
    assert run["status"] == "succeeded"
    eventually(lambda: len(httpserver.log) == 2)
    assert run["deliveries"][0]["attempts"] == 2
