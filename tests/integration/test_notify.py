"""Notifications through Apprise, against pytest-httpserver as the receiving service."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tidegate.pushback.notify import NotifyResult, redact_apprise_url, send_notification
from tidegate.security.allowlist import AllowList

pytestmark = pytest.mark.anyio

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7/#releases"


@pytest.fixture
def server(httpserver_ipv4: HTTPServer) -> HTTPServer:
    return httpserver_ipv4


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def json_url(server: HTTPServer, path: str = "/notify", auth: str = "") -> str:
    return f"json://{auth}127.0.0.1:{server.port}{path}"


async def test_json_url_receives_title_and_body(server: HTTPServer) -> None:
    server.expect_request("/notify", method="POST").respond_with_data("OK")
    result = await send_notification(
        [json_url(server)],
        "web-release failed",
        "run r1: smoke failed",
        AllowList(["127.0.0.1:*"]),
        timeout=5,
    )
    assert result == NotifyResult(sent=[f"json://127.0.0.1:{server.port}/***"])
    (request, _), *rest = server.log
    assert not rest
    body = json.loads(request.get_data())
    assert body["title"] == "web-release failed"
    assert body["message"] == "run r1: smoke failed"


async def test_off_the_allow_list_is_refused_without_a_request(server: HTTPServer) -> None:
    server.expect_request("/notify").respond_with_data("OK")
    result = await send_notification(
        [json_url(server)], "t", "b", AllowList(["hooks.slack.com"]), timeout=5
    )
    assert result == NotifyResult(refused=[f"json://127.0.0.1:{server.port}/***"])
    assert server.log == []


async def test_a_port_off_the_allow_list_is_refused(server: HTTPServer) -> None:
    allow = AllowList([f"127.0.0.1:{server.port + 1}"])
    result = await send_notification([json_url(server)], "t", "b", allow, timeout=5)
    assert len(result.refused) == 1 and server.log == []


async def test_each_url_gets_its_own_verdict(server: HTTPServer) -> None:
    server.expect_request("/ok").respond_with_data("OK")
    server.expect_request("/broken").respond_with_data("no", status=500)
    urls = [
        json_url(server, "/ok"),
        json_url(server, "/broken"),
        SLACK,  # hooks.slack.com: not on this list
        "mailto://user:pw@mail.example.com",  # destination not derived: refused without "*:*"
        "nosuchscheme://token",
    ]
    result = await send_notification(urls, "t", "b", AllowList(["127.0.0.1:*"]), timeout=5)
    port = server.port
    assert result.sent == [f"json://127.0.0.1:{port}/***"]
    assert result.refused == ["slack://hooks.slack.com:443/***", "mailto://***"]
    assert result.failed == [f"json://127.0.0.1:{port}/***", "nosuchscheme://***"]
    assert sorted(req.path for req, _ in server.log) == ["/broken", "/ok"]


async def test_star_any_port_allows_any_destination(server: HTTPServer) -> None:
    server.expect_request("/notify").respond_with_data("OK")
    result = await send_notification([json_url(server)], "t", "b", AllowList(["*:*"]), timeout=5)
    assert len(result.sent) == 1


async def test_an_entry_without_a_port_allows_https_on_443_only(server: HTTPServer) -> None:
    """`127.0.0.1` is not `http://127.0.0.1:PORT`, and `*` is not anywhere."""
    server.expect_request("/notify").respond_with_data("OK")
    for entries in (["127.0.0.1"], ["*"]):
        result = await send_notification(
            [json_url(server)], "t", "b", AllowList(entries), timeout=5
        )
        assert result.refused == [f"json://127.0.0.1:{server.port}/***"]
    plain = ["json://127.0.0.1:443/notify", f"jsons://127.0.0.1:{server.port}/notify"]
    result = await send_notification(plain, "t", "b", AllowList(["127.0.0.1"]), timeout=5)
    assert len(result.refused) == 2
    assert server.log == []


async def test_redirects_are_not_followed(server: HTTPServer) -> None:
    server.expect_request("/notify").respond_with_data(
        "", status=302, headers={"Location": f"http://127.0.0.1:{server.port}/elsewhere"}
    )
    server.expect_request("/elsewhere").respond_with_data("OK")
    urls = [json_url(server) + "?redirect=yes"]  # asking for it changes nothing
    result = await send_notification(urls, "t", "b", AllowList(["127.0.0.1:*"]), timeout=5)
    assert [req.path for req, _ in server.log] == ["/notify"]
    assert result.sent == []


async def test_timeout_counts_as_failed(server: HTTPServer, release: threading.Event) -> None:
    def slow(request: Request) -> Response:
        release.wait(10)
        return Response("late")

    server.expect_request("/notify").respond_with_handler(slow)
    started = time.monotonic()
    result = await send_notification(
        [json_url(server)], "t", "b", AllowList(["127.0.0.1:*"]), timeout=0.5
    )
    assert result.failed == [f"json://127.0.0.1:{server.port}/***"]
    assert time.monotonic() - started < 3


async def test_tokens_stay_out_of_results_and_logs(
    server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.expect_request("/hook/tokenpath123").respond_with_data("OK")
    urls = [
        json_url(server, "/hook/tokenpath123", auth="user:passw0rdsecret@") + "?x=queryvalue9",
        "nosuchscheme://unparseabletoken77",
        SLACK,
    ]
    result = await send_notification(urls, "t", "b", AllowList(["127.0.0.1:*"]), timeout=5)
    assert len(result.sent) == 1
    shown = repr(result)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    for secret in (
        "tokenpath123",
        "passw0rdsecret",
        "queryvalue9",
        "unparseabletoken77",
        "TIiajkdnlazkcOXrIdevi7",
    ):
        assert secret not in shown
        assert secret not in ours


def test_destination_hosts_come_from_the_plugin() -> None:
    assert redact_apprise_url(SLACK) == "slack://hooks.slack.com:443/***"
    assert redact_apprise_url("slack://xoxb-1234-1234-abc124/#c") == "slack://slack.com:443/***"
    assert redact_apprise_url("discord://1234/abcd") == "discord://discord.com:443/***"
    assert redact_apprise_url("ntfy://topic") == "ntfy://ntfy.sh:443/***"
    assert redact_apprise_url("jsons://u:p@Example.com/x") == "jsons://Example.com:443/***"
    assert redact_apprise_url("xml://[::1]:9/x") == "xml://[::1]:9/***"
    assert redact_apprise_url("mailto://u:p@gmail.com") == "mailto://***"
    assert redact_apprise_url("not a url") == "<invalid URL>"
