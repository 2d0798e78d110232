"""Docker Hub callback delivery, against pytest-httpserver standing in for Docker Hub."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx2
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tidegate.pushback.callback import (
    CallbackResult,
    callback_payload,
    deliver_callback,
    redact_url,
)
from tidegate.security.allowlist import DOCKERHUB_CALLBACK_HOSTS, AllowList

pytestmark = pytest.mark.anyio

HOOK = "/u/acme/web/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/"
PAYLOAD = callback_payload("succeeded", "All 3 jobs passed", "http://tidegate.test/runs/r1")


@pytest.fixture
def allow(httpserver: HTTPServer) -> AllowList:
    return AllowList([f"{httpserver.host}:{httpserver.port}"])


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets a slow handler finish once the test is over, so the next test's server is free."""
    event = threading.Event()
    yield event
    event.set()


async def deliver(url: str, allow: AllowList, **kw: object) -> CallbackResult:
    kw.setdefault("backoff", 0.01)
    return await deliver_callback(url, PAYLOAD, allow, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("succeeded", "success"),
        ("failed", "failure"),
        ("timed_out", "failure"),
        ("cancelled", "error"),
        ("engine_error", "error"),
        ("", "error"),
    ],
)
def test_payload_state(status: str, state: str) -> None:
    payload = callback_payload(status, "d", "http://t/runs/1")
    assert payload == {
        "state": state,
        "description": "d",
        "context": "tidegate",
        "target_url": "http://t/runs/1",
    }


def test_payload_description_truncated_within_limit() -> None:
    assert callback_payload("failed", "x" * 255, "u")["description"] == "x" * 255
    long = callback_payload("failed", "y" * 1000, "u")["description"]
    assert len(long) == 255 and long.endswith("…") and long.startswith("y" * 254)


def test_redact_url_hides_path_query_and_credentials() -> None:
    url = "https://user:pw@registry.hub.docker.com:8443/u/a/b/hook/s3cret/?token=t0k#frag"
    shown = redact_url(url)
    assert shown == "https://registry.hub.docker.com:8443/***"
    assert redact_url("http://[::1]:80/x") == "http://[::1]:80/***"
    assert redact_url("https://hub.docker.com") == "https://hub.docker.com/"
    assert redact_url("http://h:notaport/") == "<invalid URL>"


async def test_success_payload_shape(httpserver: HTTPServer, allow: AllowList) -> None:
    httpserver.expect_request(HOOK, method="POST").respond_with_data("OK")
    result = await deliver(httpserver.url_for(HOOK), allow)
    assert result == CallbackResult(delivered=True, attempts=1, status=200, error=None)
    (request, _), *rest = httpserver.log
    assert not rest
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("tidegate/")
    assert json.loads(request.get_data()) == {
        "state": "success",
        "description": "All 3 jobs passed",
        "context": "tidegate",
        "target_url": "http://tidegate.test/runs/r1",
    }


async def test_503_then_200_is_delivered_on_retry(httpserver: HTTPServer, allow: AllowList) -> None:
    httpserver.expect_oneshot_request(HOOK).respond_with_data("busy", status=503)
    httpserver.expect_request(HOOK).respond_with_data("OK", status=201)
    result = await deliver(httpserver.url_for(HOOK), allow)
    assert result == CallbackResult(delivered=True, attempts=2, status=201, error=None)
    assert [resp.status_code for _, resp in httpserver.log] == [503, 201]


async def test_429_retry_after_is_honoured_and_capped(
    httpserver: HTTPServer, allow: AllowList
) -> None:
    httpserver.expect_oneshot_request(HOOK).respond_with_data(
        "slow down", status=429, headers={"Retry-After": "3600"}
    )
    httpserver.expect_request(HOOK).respond_with_data("OK")
    started = time.monotonic()
    result = await deliver(httpserver.url_for(HOOK), allow, max_delay=0.2)
    assert result.delivered and result.attempts == 2
    assert 0.2 <= time.monotonic() - started < 2


async def test_gives_up_after_attempts(httpserver: HTTPServer, allow: AllowList) -> None:
    httpserver.expect_request(HOOK).respond_with_data("down", status=502)
    result = await deliver(httpserver.url_for(HOOK), allow, attempts=3)
    assert result == CallbackResult(delivered=False, attempts=3, status=502, error="HTTP 502")
    assert len(httpserver.log) == 3


async def test_off_the_allow_list_gets_no_request(httpserver: HTTPServer) -> None:
    httpserver.expect_request(HOOK).respond_with_data("OK")
    result = await deliver(httpserver.url_for(HOOK), AllowList(DOCKERHUB_CALLBACK_HOSTS))
    assert not result.delivered and result.attempts == 0 and result.status is None
    assert result.error is not None and "allow-list" in result.error
    assert "2141b5bi5i5b02bec211i4eeih0242eg11000a" not in result.error
    assert httpserver.log == []


async def test_a_port_off_the_allow_list_gets_no_request(httpserver: HTTPServer) -> None:
    allow = AllowList([f"{httpserver.host}:{httpserver.port + 1}"])
    result = await deliver(httpserver.url_for(HOOK), allow)
    assert not result.delivered and httpserver.log == []


async def test_a_host_without_a_port_is_https_on_443_only(httpserver: HTTPServer) -> None:
    httpserver.expect_request(HOOK).respond_with_data("OK")
    result = await deliver(httpserver.url_for(HOOK), AllowList([httpserver.host]))
    assert not result.delivered and result.attempts == 0
    assert result.error is not None and "allow-list" in result.error
    assert httpserver.log == []


async def test_404_stops(httpserver: HTTPServer, allow: AllowList) -> None:
    httpserver.expect_request(HOOK).respond_with_data("gone", status=404)
    result = await deliver(httpserver.url_for(HOOK), allow)
    assert result == CallbackResult(delivered=False, attempts=1, status=404, error="HTTP 404")
    assert len(httpserver.log) == 1


async def test_redirect_is_not_followed(httpserver: HTTPServer, allow: AllowList) -> None:
    httpserver.expect_request(HOOK).respond_with_data(
        "", status=307, headers={"Location": "http://evil.example.com/steal"}
    )
    httpserver.expect_request("/elsewhere").respond_with_data("OK")
    result = await deliver(httpserver.url_for(HOOK), allow)
    assert not result.delivered and result.status == 307 and result.attempts == 1
    assert result.error is not None and "redirect" in result.error
    assert [req.path for req, _ in httpserver.log] == [HOOK]


async def test_timeout_is_honoured(
    httpserver: HTTPServer, allow: AllowList, release: threading.Event
) -> None:
    def slow(request: Request) -> Response:
        release.wait(10)
        return Response("late")

    httpserver.expect_request(HOOK).respond_with_handler(slow)
    started = time.monotonic()
    result = await deliver(httpserver.url_for(HOOK), allow, timeout=0.3, attempts=2)
    elapsed = time.monotonic() - started
    assert not result.delivered and result.attempts == 2 and result.status is None
    assert result.error is not None and "timed out" in result.error
    assert 0.6 <= elapsed < 3


async def test_connection_refused_is_retried_not_raised() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    allow = AllowList([f"127.0.0.1:{port}"])
    result = await deliver(f"http://127.0.0.1:{port}/hook/x/", allow, attempts=2)
    assert not result.delivered and result.attempts == 2 and result.status is None
    assert result.error is not None and "ConnectError" in result.error


async def test_an_unexpected_error_is_reported_not_raised(allow: AllowList) -> None:
    def explode(request: httpx2.Request) -> httpx2.Response:
        raise RuntimeError("boom")

    result = await deliver(
        "http://localhost/hook/x/",
        AllowList(["localhost:80"]),
        client_factory=lambda: httpx2.AsyncClient(transport=httpx2.MockTransport(explode)),
    )
    assert not result.delivered and result.attempts == 1
    assert result.error == "RuntimeError: boom"


async def test_secrets_stay_out_of_the_logs(
    httpserver: HTTPServer, allow: AllowList, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_oneshot_request(HOOK).respond_with_data("busy", status=503)
    httpserver.expect_request(HOOK).respond_with_data("OK")
    url = httpserver.url_for(HOOK) + "?token=querysecret"
    result = await deliver(url, allow)
    assert result.delivered
    # werkzeug's records are the stand-in server's, not ours
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    assert "HTTP Request: POST" in ours  # httpx2 did log the request
    assert "2141b5bi5i5b02bec211i4eeih0242eg11000a" not in ours
    assert "querysecret" not in ours
    assert f"http://{urlsplit(url).netloc}/***" in ours
