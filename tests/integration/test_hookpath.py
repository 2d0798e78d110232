"""The webhook fast path answers as the routed path would: status, headers, JSON body.

Two apps on one database: Tidegate's, and the same app without the fast path (its
middleware taken out, so FastAPI routes the webhook through every middleware). Each
request goes to both, raw ASGI, and the answers are compared byte for byte: the status,
every header in order, and the body (a stored event's or run's id is fresh each time:
compared by count).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from starlette.types import Message

from tests.support import make_settings, write_workflow
from tidegate.app import create_app
from tidegate.cli.first_start import bootstrap
from tidegate.events.sources.dockerhub import dockerhub_payload
from tidegate.events.sources.registry import registry_payload
from tidegate.store.db import Database
from tidegate.store.migrate import upgrade
from tidegate.web.hookpath import HookPath
from tidegate.web.ui.headers import HEADERS

LIMIT = 8 * 1024  # max_body_bytes, small enough to pass
ACME = """
name: acme
on_unresolved: tag
on: {image: {repositories: ["acme/*"]}}
jobs: {one: {steps: [{run: "true"}]}}
"""
REGISTRY_JSON = "application/vnd.docker.distribution.events.v2+json"


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Apps:
    fast: FastAPI
    routed: FastAPI
    paths: dict[str, str]  # source → /hooks/{source}/{token}
    db_url: str


@pytest.fixture
def apps(tmp_path: Path, database_url: str) -> Iterator[Apps]:
    settings = make_settings(tmp_path, database_url, run_engine=False, max_body_bytes=LIMIT)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    upgrade(db.engine)
    first = bootstrap(settings, db)
    db.dispose()
    assert first is not None
    write_workflow(settings, "acme", ACME)
    routed = create_app(settings)
    routed.user_middleware = [
        m for m in routed.user_middleware if cast(object, m.cls) is not HookPath
    ]
    paths = {source: urlsplit(url).path for source, url in first.hooks.items()}
    yield Apps(create_app(settings), routed, paths, settings.db_url)


async def call(
    app: FastAPI,
    method: str,
    path: str,
    chunks: list[bytes],
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request, its body sent in `chunks`, as a server hands it to the app."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    pending: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks or [b""])
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], list(start["headers"]), body)


def both(
    apps: Apps,
    method: str,
    path: str,
    chunks: list[bytes] | None = None,
    headers: dict[str, str] | None = None,
    second: list[bytes] | None = None,
) -> tuple[Answer, Answer]:
    """The fast path's answer and the routed path's; `second`: the routed one's body
    when the same body twice would be a redelivery."""

    async def go() -> tuple[Answer, Answer]:
        fast = await call(apps.fast, method, path, chunks or [], headers)
        routed = await call(apps.routed, method, path, second or chunks or [], headers)
        return fast, routed

    return asyncio.run(go())


def assert_same(fast: Answer, routed: Answer) -> None:
    assert fast.status == routed.status
    assert fast.headers == routed.headers
    if fast.status == 202:  # fresh ids: the same lists, in order, by length
        shape = [(k, len(v)) for k, v in fast.json().items()]
        assert shape == [(k, len(v)) for k, v in routed.json().items()]
    else:
        assert fast.body == routed.body


def secured(answer: Answer) -> bool:
    names = {name for name, _ in answer.headers}
    return all(name.lower().encode() in names for name in HEADERS)


JSON = {"content-type": "application/json"}


def test_a_good_delivery(apps: Apps) -> None:
    one, two = dockerhub_payload("acme/web:v1"), dockerhub_payload("acme/web:v2")
    fast, routed = both(apps, "POST", apps.paths["dockerhub"], [one], JSON, second=[two])
    assert_same(fast, routed)
    assert fast.status == 202 and secured(fast)
    answer = fast.json()
    assert (len(answer["events"]), len(answer["runs"])) == (1, 1)
    # The same body again is a redelivery, on either path.
    fast, routed = both(apps, "POST", apps.paths["dockerhub"], [one], JSON, second=[two])
    assert_same(fast, routed)
    assert (len(fast.json()["events"]), len(fast.json()["duplicates"])) == (0, 1)


def test_the_jenkins_plugin_paths(apps: Apps) -> None:
    token = apps.paths["dockerhub"].rsplit("/", 1)[1]
    one, two = dockerhub_payload("acme/api:v1"), dockerhub_payload("acme/api:v2")
    path = f"/dockerhub-webhook/{token}/notify"
    fast, routed = both(apps, "POST", path, [one], JSON, second=[two])
    assert_same(fast, routed)
    assert fast.status == 202 and len(fast.json()["runs"]) == 1
    reg_token = apps.paths["registry"].rsplit("/", 1)[1]
    one, two = registry_payload("acme/db:v1"), registry_payload("acme/db:v2")
    path = f"/dockerregistry-webhook/{reg_token}/notify"
    fast, routed = both(apps, "POST", path, [one], {"content-type": REGISTRY_JSON}, [two])
    assert_same(fast, routed)
    assert fast.status == 202 and len(fast.json()["events"]) == 1
    # A Docker Hub token does not open the registry's path.
    fast, routed = both(apps, "POST", f"/dockerregistry-webhook/{token}/notify", [one])
    assert_same(fast, routed)
    assert fast.status == 404


def test_refusals(apps: Apps) -> None:
    hook = apps.paths["dockerhub"]
    cases: list[tuple[int, str, list[bytes], dict[str, str]]] = [
        (404, "/hooks/dockerhub/tgh_nosuchtoken", [dockerhub_payload("acme/x")], JSON),
        (404, "/hooks/nosuchsource/tgh_nosuchtoken", [b"{}"], JSON),
        (400, hook, [b'{"push_data": '], JSON),
        (400, hook, [b'{"push_data": {}}'], JSON),
        # Too large by its Content-Length, before a byte is read...
        (413, hook, [b"x" * (LIMIT + 1)], {**JSON, "content-length": str(LIMIT + 1)}),
        # ...or as it streams in without one.
        (413, hook, [b"x" * 4096] * 3, {**JSON, "transfer-encoding": "chunked"}),
        # A signing source (GitHub's HMAC) with a wrong signature.
        (
            401,
            apps.paths["ghcr"],
            [b'{"action": "published"}'],
            {**JSON, "x-github-event": "package", "x-hub-signature-256": "sha256=" + "0" * 64},
        ),
    ]
    for status, path, chunks, headers in cases:
        fast, routed = both(apps, "POST", path, chunks, headers)
        assert_same(fast, routed)
        assert fast.status == status, fast.body
        assert fast.json()["error"] and secured(fast)
    assert_same(*both(apps, "POST", hook, [b"x" * 10], JSON))
    assert both(apps, "POST", hook, [b"x" * 10], JSON)[0].json() == {
        "error": "bad_payload",
        "detail": "malformed JSON: Expecting value: line 1 column 1 (char 0)",
        "field": None,
    }


def test_other_methods_and_paths_pass_through(apps: Apps) -> None:
    hook = apps.paths["dockerhub"]
    for method, path in (("GET", hook), ("PUT", hook), ("POST", hook + "/"), ("GET", "/healthz")):
        fast, routed = both(apps, method, path)
        assert_same(fast, routed)
    assert both(apps, "GET", hook)[0].status == 405


def test_an_unexpected_failure_is_failsafes_500(
    apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    engine = sa.create_engine(apps.db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:  # the store breaks: a delivery cannot be written
        conn.execute(sa.text("DROP TABLE push_sightings"))
    engine.dispose()
    one, two = dockerhub_payload("acme/web:v9"), dockerhub_payload("acme/web:v10")
    with caplog.at_level(logging.ERROR, logger="tidegate.web.failsafe"):
        fast, routed = both(apps, "POST", apps.paths["dockerhub"], [one], JSON, second=[two])
    assert_same(fast, routed)
    assert fast.status == 500 and fast.json()["error"] == "internal_error"
    assert "Traceback" not in fast.body.decode() and "push_sightings" not in fast.body.decode()
    logged = [r.getMessage() for r in caplog.records if r.name == "tidegate.web.failsafe"]
    assert len(logged) == 2  # one per path, each naming the route, never the token
    token = apps.paths["dockerhub"].rsplit("/", 1)[1]
    for message in logged:
        assert message.startswith("unexpected error on POST /hooks/{source}/{token}:")
        assert token not in message and "(message withheld)" in message
