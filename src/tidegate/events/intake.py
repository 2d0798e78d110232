"""Webhook intake: token → body → verify → parse → store and plan, all before the answer.

`Intake` is the one service the webhook routes call. It knows the hooks, the sources and
the store; planning and starting runs are the engine's, reached through `RunPlanner`,
which the application wires in (app.py): events never import the engine. The events
and their planned runs are committed together before the sender hears 2xx
(delivery.py); the runs start after the answer (`start`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Mapping, Sequence
from typing import Protocol

from tidegate import logs
from tidegate.errors import NotFound, PayloadError, PayloadTooLarge, Unverified
from tidegate.events.delivery import PlannedRun, Planner, Received, store_delivery
from tidegate.events.sources import Source, get_source
from tidegate.store import credentials
from tidegate.store.db import Database

__all__ = ["Intake", "PlannedRun", "Planner", "Received", "RunPlanner"]


class RunPlanner(Protocol):
    """The engine's side of the intake (engine/intake_runs.py)."""

    def planner(self) -> Planner:
        """Plans one delivery's runs, inside its transaction, against the workflows as
        they are now (read once, before the transaction; blocking)."""
        ...

    async def start(self, runs: Sequence[PlannedRun]) -> None:
        """Starts runs the intake committed (a failed start leaves a run queued)."""
        ...


class Intake:
    """Receives webhooks. `max_body_bytes` bounds a body, by its Content-Length first,
    then while it is read."""

    def __init__(self, db: Database, runs: RunPlanner, *, max_body_bytes: int) -> None:
        self._db = db
        self._runs = runs
        self._limit = max_body_bytes

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
        # The token before the body: an unknown token costs nothing.
        source, hook_id = await asyncio.to_thread(self._hook, source_name, token)
        lowered = {key.lower(): value for key, value in headers.items()}
        content = await self._read(source_name, lowered, body)
        planner = await asyncio.to_thread(self._runs.planner)
        try:
            received = await asyncio.to_thread(
                self._store, source, hook_id, lowered, content, planner
            )
        except (PayloadError, Unverified) as exc:  # answered by the error handler
            said = f"webhook {source_name}: refused: {logs.clean(exc.message)}"
            logs.note("webhook.refused", said)
            raise
        _note_delivery(source_name, received)
        return received

    async def start(self, received: Received) -> None:
        """Start the runs `received` planned: after the answer, so the sender never
        waits for workflow starts."""
        if received.to_start:
            await self._runs.start(received.to_start)

    def _hook(self, source_name: str, token: str) -> tuple[Source, str]:
        source = get_source(source_name)
        if source is None:
            raise NotFound("no such webhook")
        with self._db.session() as session:
            hook = credentials.find_hook(session, source_name, token)
            if hook is None:
                raise NotFound("no such webhook")
            return source, hook.id

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

    def _store(
        self,
        source: Source,
        hook_id: str,
        headers: Mapping[str, str],
        content: bytes,
        planner: Planner,
    ) -> Received:
        source.verify(headers, content)
        return store_delivery(self._db, hook_id, source.parse(content, headers), planner)


def _note_delivery(source: str, result: Received) -> None:
    """One log line per stored event (never the body, the hook URL or a callback URL)."""
    for event, runs in result.planned:
        shown = event.image.removeprefix("docker.io/")
        by = f" pushed by {event.pusher}" if event.pusher else ""
        started = ", ".join(f"{run.run_id} ({run.workflow})" for run in runs)
        logs.note(
            "webhook",
            f"webhook {source}: {logs.clean(shown + by)} → "
            + (f"runs {started}" if runs else "no workflow matches"),
            source=source,
            event_id=event.id,
            image=event.image,
            runs=[run.run_id for run in runs],
        )
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
