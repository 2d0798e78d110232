"""One delivery's writes: check → plan → insert-or-duplicate, committed before the answer.

The events and their planned runs (queued, ids chosen here: a run's id is its DBOS
workflow id) are committed together before the sender hears 2xx, so an answered
webhook is never lost; starting the runs is the engine's, after the commit and outside
the request (engine/launcher.py). Plain Core inserts, the de-duplication folded into
the event's insert (`ON CONFLICT DO NOTHING`): see store/events.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from tidegate.errors import NotFound, PayloadError
from tidegate.events.binding import refusal
from tidegate.events.grammar import event_problem, short
from tidegate.events.poll_dedup import covered_by_poll
from tidegate.events.sources import Parsed
from tidegate.image_event import ImageEvent
from tidegate.store import credentials
from tidegate.store import events as store_events
from tidegate.store.ids import new_id


@dataclass(frozen=True)
class PlannedRun:
    run_id: str
    concurrency_key: str | None
    workflow: str
    # The `runs` row to insert (queued), beside the event's.
    row: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


Planner = Callable[[ImageEvent], list[PlannedRun]]
"""An event's runs, planned against the workflows as they are now (the engine's planner,
engine/intake_runs.py; pure: nothing is written)."""


@dataclass
class Received:
    """What one delivery produced; the 202 body, and the runs the engine is to start."""

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


class HookRevoked(NotFound):
    """The hook was revoked (perhaps by another process) after its token was checked."""

    def __init__(self, hook_id: str) -> None:
        super().__init__("no such webhook")
        self.hook_id = hook_id


def check_all(events: list[ImageEvent]) -> None:
    """Every event against the field grammar, before anything is stored.

    Sources already hold their fields to it (a Distribution envelope ignores a bad event
    and keeps its siblings); this is the intake's own guarantee, whatever a source does:
    a delivery is refused whole, never stored in part. Every field is asked about here;
    within the intake's `grammar.one_pass()` a value the source's parse already checked
    is answered from its verdict, so a body costs one grammar pass, not two.
    """
    for index, event in enumerate(events):
        problem = event_problem(event)
        if problem is not None:
            name, reason = problem
            raise PayloadError(f"event #{index}: {name} {reason}", field=name)


def store_delivery(session: Session, hook_id: str, parsed: Parsed, planner: Planner) -> Received:
    """Store the events `parsed` holds (checked by `check_all`), each with its planned
    runs, in `session`'s transaction. HookRevoked, before anything is written, when the
    hook is no longer live."""
    # A `registry` hook bound to its registries: an event naming another host is left
    # out, so that no sender picks a host Tidegate will contact. The same read is the
    # hook's liveness, in this transaction: a revocation anywhere is seen here.
    bound = credentials.live_hook_registries(session, hook_id)
    if bound is None:
        raise HookRevoked(hook_id)
    result = Received(ignored=list(parsed.ignored))
    received_at = datetime.now(UTC)
    for event in parsed.events:
        reason = refusal(event.registry, bound)
        if reason is not None:
            result.ignored.append(f"event {short(event.delivery_id)}: {reason}")
            continue
        stored = event.model_copy(update={"id": new_id("ev"), "received_at": received_at})
        polled = covered_by_poll(session, stored)  # a poll started this push's runs already
        if polled is not None:
            result.duplicates.append(polled)
            continue
        runs = planner(stored)
        row = store_events.event_row(stored, hook_id, run_count=len(runs))
        existing = store_events.insert_new_event(session, row, [run.row for run in runs])
        if existing is not None:
            result.duplicates.append(existing)
            continue
        result.events.append(stored.id)
        result.runs.extend(run.run_id for run in runs)
        result.planned.append((stored, runs))
        if not runs:
            result.unmatched.append(stored.id)
    return result
