"""A `registry` webhook names the host Tidegate asks for a digest (`request.host`):
whoever holds a hook token must not reach an internal service through it, nor read
that service's answer in a run. The internal service is a plain TCP listener on
loopback that records every request and answers with a secret."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from tests.support import Server, write_workflow

SECRET = "internal-secret-5c1e"
NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
    b"Connection: close\r\n\r\n" + SECRET.encode()
)
MANIFEST_UNKNOWN = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"' + SECRET.encode() + b'"}]}'
OCI_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(MANIFEST_UNKNOWN)}\r\nConnection: close\r\n\r\n".encode()
    + MANIFEST_UNKNOWN
)
BANNER = f"SSH-2.0-{SECRET}\r\n".encode()
WORKFLOW = "name: pin\non: {image: {repositories: ['**']}}\njobs: {a: {steps: [{run: 'true'}]}}\n"


class Listener:
    """An internal service on 127.0.0.1: records each connection's first bytes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self.requests.append(conn.recv(65536))
                    conn.sendall(self.answer)
                except OSError:
                    pass

    def close(self) -> None:
        # close() alone does not wake a thread blocked in accept(); shutdown() does.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener(NOT_FOUND)
    yield found
    found.close()


def envelope(host: str, tag: str = "v1") -> bytes:
    """A Distribution notification naming a tag, no digest: pinning asks `host`."""
    event = {
        "id": f"ssrf-{host}-{tag}",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "repository": "acme/web",
            "tag": tag,
        },
        "request": {"host": host, "method": "PUT"},
    }
    return json.dumps({"events": [event]}).encode()


def pinned(server: Server, host: str, hook_url: str | None = None) -> dict[str, object]:
    """The finished run of an event naming `host`."""
    write_workflow(server.settings, "pin", WORKFLOW)
    if hook_url is None:
        answer = server.post_hook("registry", envelope(host))
    else:
        import httpx2

        answer = httpx2.post(hook_url, content=envelope(host), timeout=30)
    assert answer.status_code == 202, answer.text
    (run_id,) = answer.json()["runs"]
    return server.wait_run(run_id)


def bound_hook(server: Server, *registries: str) -> str:
    with server.client() as c:
        created = c.post("/api/v1/hooks", json={"source": "registry", "registries": registries})
    assert created.status_code == 201, created.text
    return str(created.json()["url"])


@pytest.mark.parametrize(
    ("allowed", "host", "why"),
    [
        (["*"], "127.0.0.1", "is a private or local address"),
        (["*:*"], "127.0.0.1", "is a private or local address"),
        (["*"], "localhost", "is not on the registry allow-list"),
        (["*:*"], "localhost", "resolves to a private or local address"),
    ],
)
def test_an_unbound_hook_cannot_point_pinning_at_an_internal_service(
    server_factory: Callable[..., Server],
    listener: Listener,
    allowed: list[str],
    host: str,
    why: str,
) -> None:
    server = server_factory(registry_allowed_hosts=allowed)
    target = f"{host}:{listener.port}"
    run = pinned(server, target)
    assert run["status"] == "failed"
    assert str(run["digest_error"]).startswith(
        f"cannot resolve {target}/acme/web:v1 to a digest: {target} {why}"
    )
    assert "TIDEGATE_REGISTRY_ALLOWED_HOSTS" in str(run["digest_error"])
    assert f"tidegate hook create registry --registry {target}" in str(run["digest_error"])
    assert listener.requests == []


@pytest.mark.parametrize(
    ("answer", "summary"),
    [
        (NOT_FOUND, "HTTP 404: manifest not found"),
        (OCI_NOT_FOUND, "HTTP 404: manifest not found (manifest unknown)"),
        (BANNER, "connection to {target} failed: it closed, or the answer was not HTTP/1.1"),
    ],
)
def test_a_run_records_a_status_and_a_code_never_the_answer(
    server: Server, listener: Listener, answer: bytes, summary: str
) -> None:
    """Even a registry Tidegate may contact (the tests list loopback) is quoted by
    status and known error code only."""
    listener.answer = answer
    target = f"127.0.0.1:{listener.port}"
    run = pinned(server, target)
    assert run["digest_error"] == (
        f"cannot resolve {target}/acme/web:v1 to a digest: {summary.format(target=target)}"
    )
    assert SECRET not in json.dumps(run)
    assert listener.requests and listener.requests[0].startswith(b"HEAD /v2/acme/web/manifests/v1")


def test_a_hook_bound_to_a_private_registry_reaches_it(
    server_factory: Callable[..., Server], listener: Listener
) -> None:
    """An admin's binding is an explicit entry: `*` alone would refuse loopback."""
    server = server_factory(registry_allowed_hosts=["*"])
    target = f"127.0.0.1:{listener.port}"
    run = pinned(server, target, bound_hook(server, target))
    assert (
        run["digest_error"]
        == f"cannot resolve {target}/acme/web:v1 to a digest: HTTP 404: manifest not found"
    )
    assert listener.requests


def test_a_hook_bound_to_another_registry_ignores_the_event(
    server_factory: Callable[..., Server], listener: Listener
) -> None:
    import httpx2

    server = server_factory(registry_allowed_hosts=["*"])
    write_workflow(server.settings, "pin", WORKFLOW)
    url = bound_hook(server, "registry.example.com", "10.0.0.5:5000")
    target = f"127.0.0.1:{listener.port}"
    answer = httpx2.post(url, content=envelope(target), timeout=30)
    assert answer.status_code == 202
    body = answer.json()
    assert body["events"] == [] and body["runs"] == []
    (reason,) = body["ignored"]
    assert (
        f"request.host '{target}' is not a registry this hook serves"
        " (registry.example.com, 10.0.0.5:5000)"
    ) in reason
    with server.client() as c:
        assert c.get("/api/v1/events").json() == []
    assert listener.requests == []


def test_a_promotion_to_an_unlisted_private_registry_is_refused_before_any_request(
    server: Server,
) -> None:
    """The tests list 127.0.0.1 and localhost; 127.0.0.2 is loopback too, and unlisted."""
    internal = socket.create_server(("127.0.0.2", 0))
    port = internal.getsockname()[1]
    internal.settimeout(0.5)
    try:
        write_workflow(
            server.settings,
            "ship",
            "name: ship\non: {image: {repositories: ['**']}}\n"
            f"jobs: {{a: {{steps: [{{promote: {{to: ['127.0.0.2:{port}/acme/web:prod']}}}}]}}}}\n",
        )
        event = json.loads(envelope("127.0.0.1:9"))
        event["events"][0]["target"]["digest"] = "sha256:" + "ab" * 32  # no pinning asked
        answer = server.post_hook("registry", json.dumps(event).encode())
        (run_id,) = answer.json()["runs"]
        run = server.wait_run(run_id)
        with pytest.raises(TimeoutError):
            internal.accept()
    finally:
        internal.close()
    (step,) = run["steps"]
    assert step["error"].startswith(
        f"promote to 127.0.0.2:{port}/acme/web:prod: 127.0.0.2:{port} is a private or local"
    )
