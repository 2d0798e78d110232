"""Webhook intake: verify → parse → dedupe → store → plan, all before the answer.

The event and its planned runs are committed in one transaction before the sender
hears 2xx, so an answered webhook is never lost; the runs start after the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tidegate.errors import NotFound, PayloadError
from tidegate.events.binding import refusal
from tidegate.events.grammar import event_problem, short
from tidegate.events.model import ImageEvent
from tidegate.events.sources import get_source
from tidegate.store import credentials
from tidegate.store import events as store_events
from tidegate.store.db import Database
from tidegate.store.models import Run

Planner = Callable[[Session, ImageEvent], list[Run]]


@dataclass
class Received:
    """What one delivery produced; the 202 body."""

    events: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    to_start: list[tuple[str, str | None]] = field(default_factory=list)
    # Per stored event, for the server's log: the event, and its runs' (id, workflow).
    planned: list[tuple[ImageEvent, list[tuple[str, str]]]] = field(default_factory=list)


def authenticate(db: Database, source: str, token: str) -> str:
    """The hook id for a live token of this source; NotFound otherwise (no hint which)."""
    if get_source(source) is None:
        raise NotFound("no such webhook")
    with db.session() as session:
        hook = credentials.find_hook(session, source, token)
        if hook is None:
            raise NotFound("no such webhook")
        return hook.id


def receive(
    db: Database,
    source_name: str,
    hook_id: str,
    body: bytes,
    headers: Mapping[str, str],
    planner: Planner,
) -> Received:
    source = get_source(source_name)
    if source is None:
        raise NotFound(f"unknown source {source_name!r}")
    parsed = source.parse(body, {k.lower(): v for k, v in headers.items()})
    _check_all(parsed.events)
    result = Received(ignored=list(parsed.ignored))
    received_at = datetime.now(UTC)
    with db.session() as session:
        # A `registry` hook bound to its registries: an event naming another host is left
        # out, so that no sender picks a host Tidegate will contact.
        bound = credentials.hook_registries(session, hook_id)
        for event in parsed.events:
            reason = refusal(event.registry, bound)
            if reason is not None:
                result.ignored.append(f"event {short(event.delivery_id)}: {reason}")
                continue
            _store_one(
                session,
                event.model_copy(update={"received_at": received_at}),
                hook_id,
                planner,
                result,
            )
    return result


def _check_all(events: list[ImageEvent]) -> None:
    """Every event against the field grammar, before anything is stored.

    Sources already hold their fields to it (a Distribution envelope ignores a bad event
    and keeps its siblings); this is the intake's own guarantee, whatever a source does:
    a delivery is refused whole, never stored in part.
    """
    for index, event in enumerate(events):
        problem = event_problem(event)
        if problem is not None:
            field, reason = problem
            raise PayloadError(f"event #{index}: {field} {reason}", field=field)


def _store_one(
    session: Session, event: ImageEvent, hook_id: str, planner: Planner, result: Received
) -> None:
    existing = store_events.find_delivery(session, event.source, event.delivery_id)
    if existing is None:
        try:
            # A savepoint: a concurrent identical delivery loses the race cleanly.
            with session.begin_nested():
                row = store_events.add_event(session, event, hook_id)
                stored = event.model_copy(update={"id": row.id})
                runs = planner(session, stored)
                row.run_count = len(runs)
        except IntegrityError:
            existing = store_events.find_delivery(session, event.source, event.delivery_id)
            if existing is None:
                raise
        else:
            result.events.append(row.id)
            result.runs.extend(run.id for run in runs)
            result.to_start.extend((run.id, run.concurrency_key) for run in runs)
            result.planned.append((stored, [(run.id, run.workflow_name) for run in runs]))
            if not runs:
                result.unmatched.append(row.id)
            return
    result.duplicates.append(existing.id)


__all__ = ["PayloadError", "Received", "authenticate", "receive"]
