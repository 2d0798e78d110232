"""The API gate: the caller before the body, every body limited, never a 5xx.

The server runs in a thread of this process, so this process's RSS is the server's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support import Server
from tidegate.image_event import ImageEvent
from tidegate.store import events as store_events
from tidegate.store.db import Database
from tidegate.web import auth

MiB = 1024 * 1024
LIMIT = 64 * 1024  # TIDEGATE_MAX_API_BODY_BYTES' default
BODY_ROUTES = ["/api/v1/approvals/ap_x/approve", "/api/v1/workflows/validate"]


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def peak_growth(action: Callable[[], Any]) -> tuple[Any, int]:
    """What `action` returns, and how far RSS rose above its start meanwhile."""
    start, peak, done = rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = action()
    finally:
        done.set()
        sampler.join()
    return result, max(peak[0], rss()) - start


def stream(total: int, chunk: int = MiB) -> Iterator[bytes]:
    piece = b"[" * chunk  # one buffer, sent again and again: the client holds 1 MiB
    for _ in range(total // chunk):
        yield piece


@pytest.mark.parametrize("sized", [False, True], ids=["chunked", "content-length"])
def test_strangers_get_401_before_a_byte_of_the_body(server: Server, sized: bool) -> None:
    headers = {"Content-Type": "application/json"}
    if sized:
        headers["Content-Length"] = str(50 * MiB)
    httpx2.post(f"{server.url}{BODY_ROUTES[0]}", content=b"{}", timeout=30)  # warm up
    for path in BODY_ROUTES:
        for token in (None, "tga_not-a-token"):
            sent = {**headers, **({"Authorization": f"Bearer {token}"} if token else {})}
            response, growth = peak_growth(
                lambda p=path, h=sent: httpx2.post(
                    f"{server.url}{p}", content=stream(50 * MiB), headers=h, timeout=60
                )
            )
            assert response.status_code == 401, (path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"] == "http_error"
            assert growth < 4 * MiB, (path, token, growth / MiB)


def test_bodies_past_the_limit_are_413(server: Server) -> None:
    with server.client() as c:
        for path in BODY_ROUTES:
            declared = c.post(path, content=b" " * (LIMIT + 1), headers=JSON)
            streamed = c.post(path, content=stream(4 * MiB, 16 * 1024), headers=JSON)
            for response in (declared, streamed):
                assert response.status_code == 413, (path, response.text)
                assert response.json() == {
                    "error": "payload_too_large",
                    "detail": f"the body is larger than {LIMIT} bytes",
                    "field": None,
                }
        # At the limit it goes through: the approval is what is missing.
        body = b'{"comment": "' + b"x" * (LIMIT - 15) + b'"}'
        assert len(body) == LIMIT
        assert c.post(BODY_ROUTES[0], content=body, headers=JSON).status_code == 404


JSON = {"Content-Type": "application/json"}


def nested(depth: int) -> bytes:
    return b'{"comment": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_json_nested_past_the_limit_is_400(server: Server) -> None:
    with server.client() as c:
        for headers in (JSON, {"Content-Type": "application/merge-patch+json"}, {}):
            deep = c.post(BODY_ROUTES[0], content=nested(33), headers=headers)
            assert deep.status_code == 400, (headers, deep.text)
            assert deep.json() == {
                "error": "bad_request",
                "detail": "the JSON body is nested deeper than 32 levels",
                "field": None,
            }
        # 32 levels pass the gate; a list is no comment.
        assert c.post(BODY_ROUTES[0], content=nested(32), headers=JSON).status_code == 422
        # Brackets inside strings are text; YAML is not scanned as JSON.
        text = b'{"comment": "' + b"[" * 100 + b'"}'
        assert c.post(BODY_ROUTES[0], content=text, headers=JSON).status_code == 404


def test_validate_refuses_pathological_yaml_quickly(server: Server) -> None:
    laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
    )
    cases = [
        ("[" * 5000 + "]" * 5000, "w.yaml:1:65: the document is nested deeper than 64 levels"),
        (laughs, "w.yaml:1:1: the document expands to more than 100000 nodes"),
    ]
    with server.client() as c:
        for text, detail in cases:
            started = time.process_time()  # the server's CPU too: it is this process
            response = c.post(
                "/api/v1/workflows/validate",
                content=text,
                params={"filename": "w.yaml"},
                headers={"Content-Type": "application/yaml"},
            )
            assert time.process_time() - started < 3.0
            assert response.status_code == 400, response.text
            assert response.json() == {"error": "bad_request", "detail": detail, "field": "body"}


def test_following_the_logs_of_a_missing_run_is_404(server: Server) -> None:
    with server.client() as c:
        response = c.get("/api/v1/runs/run_nope/logs", params={"follow": "true"})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_text_every_database_can_store(server: Server) -> None:
    with server.client() as c:
        for name, fragment in [
            ("n" * 201, "at most 200 characters"),
            ("a\x00b", "NUL"),
        ]:
            response = c.post("/api/v1/hooks", json={"source": "registry", "name": name})
            assert response.status_code == 422, response.text
            assert response.json()["field"] == "name" and fragment in response.json()["detail"]
        surrogate = b'{"source": "registry", "name": "a\\ud800"}'
        assert c.post("/api/v1/hooks", content=surrogate, headers=JSON).status_code == 422
        comment = b'{"comment": "\\u0000"}'
        assert c.post(BODY_ROUTES[0], content=comment, headers=JSON).status_code == 422
        created = c.post("/api/v1/hooks", json={"source": "registry", "name": "n" * 200})
        assert created.status_code == 201, created.text
        for method, path in [
            ("GET", "/api/v1/runs?status=a%00"),
            ("GET", "/api/v1/runs/run%00x"),
            ("DELETE", "/api/v1/hooks/hk%00x"),
            ("POST", "/api/v1/approvals/ap%00x/approve"),
        ]:
            response = c.request(method, path)
            assert response.status_code == 400, (path, response.text)
            assert response.json()["error"] == "bad_request"


def test_an_old_event_nested_300_deep_is_served(server: Server) -> None:
    raw: dict[str, Any] = {}
    node = raw
    for _ in range(300):
        node["a"] = {}
        node = node["a"]
    event = ImageEvent(source="registry", delivery_id="d1", registry="r", repository="a/b", raw=raw)
    db = Database(server.settings.db_url)
    with db.session() as session:
        event_id = store_events.add_event(session, event, None).id
    db.dispose()
    with server.client(server.token("vera", "viewer")) as c:
        response = c.get(f"/api/v1/events/{event_id}")
        assert c.get("/api/v1/events").status_code == 200
    assert response.status_code == 200, response.text
    shown, levels = response.json()["raw"], 1
    while isinstance(shown, dict):
        shown, levels = shown["a"], levels + 1
    assert (levels, shown) == (65, "(nested deeper than 64 levels: not shown)")


def test_roles_hold_and_the_token_is_looked_up_once(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []

    def counted(session: Any, token: str) -> Any:
        lookups.append(token)
        return find(session, token)

    find = auth.find_api_token
    monkeypatch.setattr(auth, "find_api_token", counted)
    hook = {"source": "registry", "name": "x"}
    for role, approve, create in [("viewer", 403, 403), ("approver", 404, 403)]:
        with server.client(server.token(role, role)) as c:
            lookups.clear()
            assert c.post(BODY_ROUTES[0], json={}).status_code == approve
            assert c.post("/api/v1/hooks", json=hook).status_code == create
            assert c.get("/api/v1/runs").status_code == 200
            assert len(lookups) == 3
    forbidden = httpx2.post(
        f"{server.url}/api/v1/hooks",
        json=hook,
        headers={"Authorization": f"Bearer {server.token('vera', 'viewer')}"},
    )
    assert forbidden.json() == {
        "error": "http_error",
        "detail": "this action needs the admin role",
        "field": None,
    }
    # Paths outside /api/ are not the gate's: no token asked, webhooks keep their 404.
    assert httpx2.get(f"{server.url}/healthz").status_code == 200
    assert httpx2.post(f"{server.url}/hooks/registry/tgh_nope", content=b"{}").status_code == 404
