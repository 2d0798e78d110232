"""Stored events: the intake's Core inserts, and the reads the API makes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Insert, Table, bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tidegate.image_event import ImageEvent
from tidegate.store.ids import new_id
from tidegate.store.models import Event, Run, utcnow

# The tables, not the classes: a Core insert, keyed by column names.
_EVENTS = cast(Table, Event.__table__)
_RUNS = cast(Table, Run.__table__)
_DELIVERY = ("source", "delivery_id")  # uq_events_delivery


def _insert_new_event(dialect: str) -> Insert:
    """`INSERT … ON CONFLICT (source, delivery_id) DO NOTHING`: the de-duplication is
    the insert itself (one statement instead of a query, a savepoint and an insert)."""
    new: Insert
    if dialect == "postgresql":
        new = postgresql.insert(_EVENTS).on_conflict_do_nothing(index_elements=_DELIVERY)
    elif dialect == "sqlite":
        new = sqlite.insert(_EVENTS).on_conflict_do_nothing(index_elements=_DELIVERY)
    else:
        raise RuntimeError(f"no ON CONFLICT for {dialect}")  # the two supported databases
    # RETURNING says whether a row went in (psycopg's rowcount here is -1).
    return new.returning(_EVENTS.c.id)


_NEW_EVENT = {name: _insert_new_event(name) for name in ("postgresql", "sqlite")}
_NEW_RUNS = insert(_RUNS)


def event_row(event: ImageEvent, hook_id: str | None, run_count: int = 0) -> dict[str, Any]:
    """The `events` row for `event` (its id chosen by the caller, in `event.id`)."""
    return {
        "id": event.id or new_id("ev"),
        "hook_id": hook_id,
        "source": event.source,
        "delivery_id": event.delivery_id,
        "registry": event.registry,
        "repository": event.repository,
        "tag": event.tag,
        "digest": event.digest,
        "media_type": event.media_type,
        "pusher": event.pusher,
        "pushed_at": event.pushed_at,
        "callback_url": event.callback_url,
        "received_at": event.received_at or utcnow(),
        "raw": event.raw,
        "run_count": run_count,
    }


def insert_new_event(
    session: Session, row: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]
) -> str | None:
    """Insert an event row and its runs' rows, unless its delivery is stored already:
    then nothing is written and the stored event's id is returned (None: inserted)."""
    connection = session.connection()  # Core, past the ORM's execution layer
    inserted = connection.execute(_NEW_EVENT[connection.dialect.name], dict(row)).first()
    if inserted is None:
        return find_delivery_id(session, row["source"], row["delivery_id"])
    if runs:
        connection.execute(_NEW_RUNS, [dict(run) for run in runs])
    return None


_DELIVERY_ID = select(Event.id).where(
    Event.source == bindparam("source"), Event.delivery_id == bindparam("delivery_id")
)


def find_delivery_id(session: Session, source: str, delivery_id: str) -> str | None:
    found = session.connection().execute(
        _DELIVERY_ID, {"source": source, "delivery_id": delivery_id}
    )
    return found.scalar()


def find_delivery(session: Session, source: str, delivery_id: str) -> Event | None:
    return session.scalar(
        select(Event).where(Event.source == source, Event.delivery_id == delivery_id)
    )


def add_event(session: Session, event: ImageEvent, hook_id: str | None) -> Event:
    """An event through the ORM (tests and seeds; the intake uses `insert_new_event`)."""
    row = Event(
        id=new_id("ev"),
        hook_id=hook_id,
        source=event.source,
        delivery_id=event.delivery_id,
        registry_host=event.registry,
        repository=event.repository,
        tag=event.tag,
        digest=event.digest,
        media_type=event.media_type,
        pusher=event.pusher,
        pushed_at=event.pushed_at,
        callback_url=event.callback_url,
        received_at=event.received_at or utcnow(),
        raw=event.raw,
    )
    session.add(row)
    session.flush()
    return row


def get_event(session: Session, event_id: str) -> Event | None:
    return session.get(Event, event_id)


def list_events(
    session: Session,
    *,
    limit: int = 50,
    repository: str | None = None,
    before: str | None = None,
    source: str | None = None,  # (UI events page) filter by source
) -> list[Event]:
    query = select(Event).order_by(Event.id.desc()).limit(limit)
    if repository:
        query = query.where(Event.repository == repository)
    if source:
        query = query.where(Event.source == source)
    if before:
        query = query.where(Event.id < before)
    return list(session.scalars(query))


def to_image_event(row: Event) -> ImageEvent:
    return ImageEvent(
        id=row.id,
        source=row.source,
        delivery_id=row.delivery_id,
        registry=row.registry_host,
        repository=row.repository,
        tag=row.tag,
        digest=row.digest,
        media_type=row.media_type,
        pusher=row.pusher,
        pushed_at=row.pushed_at,
        callback_url=row.callback_url,
        received_at=row.received_at,
        raw=row.raw,
    )
