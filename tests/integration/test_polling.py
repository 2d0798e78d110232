"""The polling safety net (`on.image.poll`) against Debian's docker-registry, images
pushed with skopeo, a real server (engine included), on SQLite and PostgreSQL.

No test waits for a time: each waits for what a user would look for (a run, a poll
that has recorded a digest: `poll_targets`), then checks what there is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.parts import FlakyProxy, ImageBuilder, Registry, TokenIssuer, TokenRegistry, push
from tests.support import Server, eventually, require, write_workflow
from tidegate.store import poll_state
from tidegate.store.db import Database
from tidegate.store.models import utcnow
from tidegate.store.poll_state import Target

WORKFLOW = """
name: {name}
on:
  image:
    repositories: ["acme/web"]
    registries: ["{registry}"]
    tags: ["v*"]
    poll: 1s
jobs:
  hello:
    steps:
      - run: echo "polled $TAG"
        env: {{TAG: "${{{{ event.tag }}}}"}}
"""


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory) -> ImageBuilder:
    return ImageBuilder(tmp_path_factory.mktemp("images"))


def image(builder: ImageBuilder, name: str) -> str:
    """A distinct image (its own digest) as `oci:LAYOUT:TAG`."""
    return builder.build(name, cmd=["true"], files={"/etc/which": f"{name}\n"})


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    handle = Registry(tmp_path / "registry").start()
    try:
        yield handle
    finally:
        handle.stop()


def runs_of(server: Server, workflow: str) -> list[dict[str, Any]]:
    with server.client() as c:
        response = c.get("/api/v1/runs", params={"limit": 200})
        response.raise_for_status()
    return [run for run in response.json() if run["workflow_name"] == workflow]


def event_of(server: Server, run: dict[str, Any]) -> dict[str, Any]:
    with server.client() as c:
        response = c.get(f"/api/v1/events/{run['event_id']}")
        response.raise_for_status()
        return dict(response.json())


def targets(server: Server) -> list[Target]:
    db = Database(server.settings.db_url)
    try:
        with db.session() as session:
            return poll_state.list_targets(session)
    finally:
        db.dispose()


def polled_since(
    server: Server, moment: datetime, tag: str = "", digest: str = "", registry: str = ""
) -> Target:
    """The target once a poll begun after `moment` is recorded (with `tag` at `digest`)."""

    def check() -> Target | None:
        for target in targets(server):
            if registry and target.registry != registry:
                continue
            after = target.polled_at is not None and target.polled_at > moment
            if after and (not tag or target.tags.get(tag) == digest):
                return target
        return None

    return eventually(check, timeout=60)


def wait_runs(server: Server, workflow: str, count: int) -> list[dict[str, Any]]:
    return eventually(
        lambda: runs if len(runs := runs_of(server, workflow)) >= count else None, timeout=60
    )


def test_polling_alone_starts_one_run_per_push(
    server_factory: Callable[..., Server], registry: Registry, builder: ImageBuilder
) -> None:
    server = server_factory()
    there = push(image(builder, "before"), f"{registry.host}/acme/web:v0")
    write_workflow(server.settings, "watch", WORKFLOW.format(name="watch", registry=registry.host))
    first = polled_since(server, datetime.min.replace(tzinfo=utcnow().tzinfo))
    assert first.tags == {"v0": there}  # recorded on the first poll, and nothing started
    assert runs_of(server, "watch") == []

    one = push(image(builder, "one"), f"{registry.host}/acme/web:v1")
    (run,) = wait_runs(server, "watch", 1)
    assert run["image"] == f"{registry.host}/acme/web@{one}"
    assert run["trigger"] == "poll"
    event = event_of(server, run)
    assert (event["source"], event["tag"], event["digest"]) == ("poll", "v1", one)

    two = push(image(builder, "two"), f"{registry.host}/acme/web:v1")  # the tag moves
    runs = wait_runs(server, "watch", 2)
    assert sorted(r["image"] for r in runs) == sorted(
        f"{registry.host}/acme/web@{d}" for d in (one, two)
    )

    # Unchanged tags (and a tag the filter leaves out) start nothing at later polls.
    push(image(builder, "other"), f"{registry.host}/acme/web:latest")
    polled_since(server, utcnow(), "v1", two)
    polled_since(server, utcnow(), "v1", two)
    assert len(runs_of(server, "watch")) == 2
    final = server.wait_run(run["id"])
    assert "polled v1" in server.logs(final["id"])


@dataclass
class HookRelay:
    """Between the registry's notifications and Tidegate's hook: forwards each delivery
    and keeps Tidegate's answers; while `held`, deliveries wait (a slow notification)."""

    hook: str
    answers: list[dict[str, Any]] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/notify"

    def start(self) -> HookRelay:
        relay = self
        self.held.set()  # set: deliveries go through

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                relay.held.wait(timeout=120)
                kind = self.headers.get("Content-Type", "application/json")
                answer = httpx2.post(
                    relay.hook, content=body, headers={"Content-Type": kind}, timeout=30
                )
                relay.answers.append(
                    {"status": answer.status_code, "sent": json.loads(body), **answer.json()}
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.held.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def delivered(self, digest: str) -> list[dict[str, Any]]:
        """Tidegate's answers to deliveries that carried a manifest push of `digest`."""
        return [
            a
            for a in self.answers
            if any(
                e.get("action") == "push" and e.get("target", {}).get("digest") == digest
                for e in a["sent"].get("events", [])
            )
        ]


@pytest.fixture
def notified(
    server_factory: Callable[..., Server], tmp_path: Path
) -> Iterator[tuple[Server, Registry, HookRelay]]:
    server = server_factory()
    relay = HookRelay(server.hooks["registry"]).start()
    handle = Registry(tmp_path / "notifying", notify_url=relay.url).start()
    try:
        yield server, handle, relay
    finally:
        relay.stop()
        handle.stop()


def test_a_webhook_and_a_poll_of_one_push_start_one_run(
    notified: tuple[Server, Registry, HookRelay], builder: ImageBuilder
) -> None:
    server, registry, relay = notified
    write_workflow(server.settings, "watch", WORKFLOW.format(name="watch", registry=registry.host))
    polled_since(server, datetime.min.replace(tzinfo=utcnow().tzinfo))

    # Whichever comes first (the notification, most often).
    one = push(image(builder, "one"), f"{registry.host}/acme/web:v1")
    eventually(lambda: [a for a in relay.delivered(one) if a["status"] == 202])
    polled_since(server, utcnow(), "v1", one)
    assert [r["image"] for r in runs_of(server, "watch")] == [f"{registry.host}/acme/web@{one}"]

    # The poll first: the notification is held until the poll's run is there.
    relay.held.clear()
    two = push(image(builder, "two"), f"{registry.host}/acme/web:v1")
    runs = wait_runs(server, "watch", 2)
    by_poll = next(r for r in runs if r["image"].endswith(two))
    assert event_of(server, by_poll)["source"] == "poll"
    relay.held.set()
    (answer, *_) = eventually(lambda: relay.delivered(two))
    assert answer["status"] == 202
    assert answer["runs"] == [] and answer["duplicates"] == [by_poll["event_id"]]
    polled_since(server, utcnow(), "v1", two)
    assert len(runs_of(server, "watch")) == 2


def test_a_push_made_while_the_registry_was_down_is_caught(
    server_factory: Callable[..., Server], tmp_path: Path, builder: ImageBuilder
) -> None:
    server = server_factory()
    watched = Registry(tmp_path / "watched").start()
    # A second registry process on the same storage: it takes the push while the one
    # Tidegate polls is down (as behind a load balancer, or across a network outage).
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data").symlink_to(tmp_path / "watched" / "data")
    other = Registry(tmp_path / "other").start()
    try:
        push(image(builder, "before"), f"{watched.host}/acme/web:v0")
        write_workflow(
            server.settings, "watch", WORKFLOW.format(name="watch", registry=watched.host)
        )
        polled_since(server, datetime.min.replace(tzinfo=utcnow().tzinfo))
        watched.stop()
        eventually(lambda: [t for t in targets(server) if t.failures >= 2])  # it was missed
        pushed = push(image(builder, "while-down"), f"{other.host}/acme/web:v1")
        watched = Registry(tmp_path / "watched", port=watched.port).start()
        (run,) = wait_runs(server, "watch", 1)
        assert run["image"] == f"{watched.host}/acme/web@{pushed}"
        target = polled_since(server, utcnow(), "v1", pushed)
        assert (target.failures, target.last_error) == (0, "")
    finally:
        other.stop()
        watched.stop()


def test_a_registry_that_hangs_delays_no_other(
    server_factory: Callable[..., Server], tmp_path: Path, builder: ImageBuilder
) -> None:
    server = server_factory(outbound_timeout=600)  # the hang outlasts the test
    behind = Registry(tmp_path / "behind").start()
    hanging = FlakyProxy(
        behind.host, stall=lambda method, path: 600.0 if path.endswith("/tags/list") else 0.0
    ).start()
    healthy = Registry(tmp_path / "healthy").start()
    try:
        both = f'{hanging.host}", "{healthy.host}'
        write_workflow(server.settings, "watch", WORKFLOW.format(name="watch", registry=both))
        start = datetime.min.replace(tzinfo=utcnow().tzinfo)
        polled_since(server, start, registry=healthy.host)
        pushed = push(image(builder, "one"), f"{healthy.host}/acme/web:v1")
        (run,) = wait_runs(server, "watch", 1)
        assert run["image"] == f"{healthy.host}/acme/web@{pushed}"
        # Meanwhile the other registry has not answered its first listing.
        assert hanging.stalled == ["GET /v2/acme/web/tags/list?n=1000"]
        (stuck,) = [t for t in targets(server) if t.registry == hanging.host]
        assert stuck.polled_at is None
    finally:
        healthy.stop()
        hanging.stop()
        behind.stop()


USER, PASSWORD = "poller", "s3cret"


def test_a_token_auth_registry_is_polled_with_the_configured_login(
    server_factory: Callable[..., Server], tmp_path: Path, builder: ImageBuilder
) -> None:
    require(TokenIssuer.available(), "the token issuer needs the cryptography package")
    issuer = TokenIssuer(tmp_path / "issuer", users={USER: PASSWORD}).start()
    registry = TokenRegistry(tmp_path / "token", issuer=issuer).start()
    try:
        server = server_factory(registry_logins={registry.host: f"{USER}:{PASSWORD}"})
        write_workflow(
            server.settings, "watch", WORKFLOW.format(name="watch", registry=registry.host)
        )
        polled_since(server, datetime.min.replace(tzinfo=utcnow().tzinfo))
        pushed = push(
            image(builder, "one"), f"{registry.host}/acme/web:v1", creds=f"{USER}:{PASSWORD}"
        )
        (run,) = wait_runs(server, "watch", 1)
        assert run["image"] == f"{registry.host}/acme/web@{pushed}"
        asked = [r for r in issuer.requests if r.account == USER]
        assert any("repository:acme/web:pull" in r.scopes for r in asked)
    finally:
        registry.stop()
        issuer.stop()
