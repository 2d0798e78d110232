"""Webhook intake: token → body → verify → parse → store and plan, all before the answer.

`Intake` is the one service the webhook routes call. It knows the hooks, the sources and
the store; planning and starting runs are the engine's, reached through `RunPlanner`,
which the application wires in (app.py): events never import the engine. The events
and their planned runs (queued) are committed together before the sender hears 2xx
(delivery.py, in a group commit: writer.py); the engine starts them afterwards, outside
the request (`RunPlanner.queued`; engine/launcher.py), so a busy engine never slows the
answer and nothing acknowledged is lost (queued runs are started after a crash too).

A webhook costs no thread hop for its token (livehooks.py) and one, shared with the
deliveries committed alongside it, for its writes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from functools import partial
from typing import Protocol

from sqlalchemy.orm import Session

from tidegate import logs
from tidegate.errors import NotFound, PayloadError, PayloadTooLarge, Unverified
from tidegate.events import grammar
from tidegate.events.announce import note_planned
from tidegate.events.delivery import (
    HookRevoked,
    PlannedRun,
    Planner,
    Received,
    check_all,
    store_delivery,
)
from tidegate.events.livehooks import LiveHooks
from tidegate.events.sources import Parsed, Source, get_source
from tidegate.events.sources.auth import HookAuth, count_refusal
from tidegate.events.writer import GroupWriter
from tidegate.store.db import Database

__all__ = ["Intake", "PlannedRun", "Planner", "Received", "RunPlanner", "SenderCheck"]

# Raises `Unverified` unless a delivery's headers (lower-case keys) come from the sender.
SenderCheck = Callable[[Mapping[str, str]], None]

# Bodies up to this size are verified and parsed on the event loop (a Docker Hub body,
# ~1.5 KB, takes ~0.1 ms: less than the thread hop); larger ones in a thread.
PARSE_INLINE_BYTES = 16 * 1024
# Two webhooks that end less than this apart make a stream: the intake counts as
# receiving until this long after the later one (`receiving`).
QUIET_AFTER = 0.05


class RunPlanner(Protocol):
    """The engine's side of the intake (engine/intake_runs.py)."""

    def planner(self) -> Planner:
        """Plans events' runs against the workflows as they are now (read once per
        group of deliveries, before their transaction; blocking)."""
        ...

    def queued(self, runs: Sequence[PlannedRun]) -> None:
        """Runs the intake committed, for the engine to start (never waits for it)."""
        ...


class Intake:
    """Receives webhooks. `max_body_bytes` bounds a body, by its Content-Length first,
    then while it is read."""

    def __init__(
        self,
        db: Database,
        runs: RunPlanner,
        *,
        max_body_bytes: int,
        checks: Mapping[str, SenderCheck] | None = None,
    ) -> None:
        self._runs = runs
        # Server-wide checks of a source's sender, beyond its hooks' (gar_oidc.py).
        self._checks = dict(checks or {})
        self._limit = max_body_bytes
        self._hooks = LiveHooks(db)
        self._writer: GroupWriter[Planner] = GroupWriter(db, runs.planner)
        self._in_progress = 0
        # When the last two deliveries ended.
        self._last_seen = self._seen_before = -2 * QUIET_AFTER

    def receiving(self) -> bool:
        """Whether webhooks are coming in (the launcher holds starts back meanwhile): one
        is being received, or the last two ended less than `QUIET_AFTER` apart and the
        later one less than `QUIET_AFTER` ago. A lone webhook is not a stream: its run
        starts as soon as it is answered."""
        if self._in_progress > 0:
            return True
        last = self._last_seen
        return last - self._seen_before < QUIET_AFTER and time.monotonic() - last < QUIET_AFTER

    async def receive(
        self,
        source_name: str,
        token: str,
        headers: Mapping[str, str],
        body: AsyncIterable[bytes],
    ) -> Received:
        """Store what the delivery holds, with its planned runs. NotFound for an unknown
        source or a token that is not a live hook of it (no hint which), PayloadTooLarge,
        Unverified, or PayloadError; nothing is stored for a refused delivery."""
        self._in_progress += 1
        try:
            return await self._receive(source_name, token, headers, body)
        finally:
            self._in_progress -= 1
            self._seen_before, self._last_seen = self._last_seen, time.monotonic()

    async def _receive(
        self,
        source_name: str,
        token: str,
        headers: Mapping[str, str],
        body: AsyncIterable[bytes],
    ) -> Received:
        # The token before the body: an unknown token costs nothing.
        source = get_source(source_name)
        if source is None:
            raise NotFound("no such webhook")
        hook = self._hooks.cached(source_name, token)
        if hook is None:
            hook = await asyncio.to_thread(self._hooks.load, source_name, token)
            if hook is None:
                raise NotFound("no such webhook")
        lowered = {key.lower(): value for key, value in headers.items()}
        content = await self._read(source_name, lowered, body)
        check = self._checks.get(source_name)
        try:
            if len(content) <= PARSE_INLINE_BYTES:
                parsed = _parse(source, lowered, content, hook.auth, check)
            else:
                parsed = await asyncio.to_thread(_parse, source, lowered, content, hook.auth, check)
        except (PayloadError, Unverified) as exc:  # answered by the error handler
            said = f"webhook {source_name}: refused: {logs.clean(exc.message)}"
            logs.note("webhook.refused", said)
            if isinstance(exc, Unverified):
                count_refusal(source_name, exc)
            raise
        try:
            received = await self._writer.write(partial(_store, hook.id, parsed))
        except HookRevoked as exc:  # by another process: refused before the body from now
            self._hooks.forget(exc.hook_id)
            raise
        if received.to_start:
            self._runs.queued(received.to_start)
        _note_delivery(source_name, received)
        return received

    async def _read(
        self, source_name: str, headers: Mapping[str, str], body: AsyncIterable[bytes]
    ) -> bytes:
        """The body, refused early (by Content-Length) or as soon as it passes the limit."""
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._limit:
            raise self._too_large(source_name)
        chunks, size = [], 0
        async for chunk in body:
            size += len(chunk)
            if size > self._limit:
                raise self._too_large(source_name)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, source_name: str) -> PayloadTooLarge:
        note = f"webhook {source_name}: refused, larger than {self._limit} bytes"
        logs.note("webhook.refused", note)
        return PayloadTooLarge(f"the body is larger than {self._limit} bytes")


def _parse(
    source: Source,
    headers: Mapping[str, str],
    content: bytes,
    auth: HookAuth,
    check: SenderCheck | None = None,
) -> Parsed:
    source.verify(headers, content, auth)
    if check is not None:
        check(headers)
    with grammar.one_pass():  # the safety net re-asks only what the source did not
        parsed = source.parse(content, headers)
        check_all(parsed.events)
    return parsed


def _store(hook_id: str, parsed: Parsed, session: Session, planner: Planner) -> Received:
    return store_delivery(session, hook_id, parsed, planner)


def _note_delivery(source: str, result: Received) -> None:
    """One log line per stored event (never the body, the hook URL or a callback URL)."""
    for event, runs in result.planned:
        shown = event.image.removeprefix("docker.io/")
        by = f" pushed by {event.pusher}" if event.pusher else ""
        note_planned("webhook", f"webhook {source}: {logs.clean(shown + by)}", source, event, runs)
    if result.duplicates:
        logs.note(
            "webhook.duplicate",
            f"webhook {source}: a redelivery of {', '.join(result.duplicates)}; nothing new",
            source=source,
            duplicates=result.duplicates,
        )
    if result.ignored and not result.planned:
        logs.note(
            "webhook.ignored",
            f"webhook {source}: nothing to run ({logs.clean('; '.join(result.ignored))})",
            source=source,
        )
