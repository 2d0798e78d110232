"""One delivery's transaction: check → dedupe → store → plan, committed before the answer.

The events and their planned runs are committed together before the sender hears 2xx,
so an answered webhook is never lost; the runs start after the answer (intake.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tidegate.errors import PayloadError
from tidegate.events.binding import refusal
from tidegate.events.grammar import event_problem, short
from tidegate.events.sources import Parsed
from tidegate.image_event import ImageEvent
from tidegate.store import credentials
from tidegate.store import events as store_events
from tidegate.store.db import Database
from tidegate.store.models import Run

Planner = Callable[[Session, ImageEvent], list[Run]]
"""Adds an event's runs to the session, queued (the engine's planner, intake.py)."""


@dataclass(frozen=True)
class PlannedRun:
    run_id: str
    concurrency_key: str | None
    workflow: str


@dataclass
class Received:
    """What one delivery produced; the 202 body, and the runs to start after it."""

    events: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    # Per stored event: the event, and the runs planned for it.
    planned: list[tuple[ImageEvent, list[PlannedRun]]] = field(default_factory=list)

    @property
    def to_start(self) -> list[PlannedRun]:
        return [run for _, runs in self.planned for run in runs]


def store_delivery(db: Database, hook_id: str, parsed: Parsed, planner: Planner) -> Received:
    """Store the events `parsed` holds, each with its planned runs, in one transaction."""
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
            planned = [PlannedRun(run.id, run.concurrency_key, run.workflow_name) for run in runs]
            result.planned.append((stored, planned))
            if not runs:
                result.unmatched.append(row.id)
            return
    result.duplicates.append(existing.id)
