"""Stored events."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidegate.image_event import ImageEvent
from tidegate.store.ids import new_id
from tidegate.store.models import Event, utcnow


def find_delivery(session: Session, source: str, delivery_id: str) -> Event | None:
    return session.scalar(
        select(Event).where(Event.source == source, Event.delivery_id == delivery_id)
    )


def add_event(session: Session, event: ImageEvent, hook_id: str | None) -> Event:
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
