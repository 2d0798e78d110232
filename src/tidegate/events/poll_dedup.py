"""One run per push, whether a webhook or a poll saw it first.

Both sides record what they took in (store/push_sightings.py), keyed by registry,
repository, tag and digest:

- a poll leaves out a change that any webhook reported since its previous poll began
  (the push it sees is that webhook's: the registry notifies after storing, so a push
  reported before then was already in the previous listing);
- a webhook is a duplicate of a poll that took in the same push within
  `WEBHOOK_AFTER_POLL` (a notification late by more than that is taken for a push of
  its own). A webhook without a digest (Docker Hub) cannot be matched to a poll's and
  starts its runs, as before; a poll after it leaves that tag's change out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tidegate.image_event import ImageEvent
from tidegate.store import push_sightings
from tidegate.store.models import utcnow
from tidegate.store.push_sightings import POLL, PushKey

WEBHOOK_AFTER_POLL = timedelta(hours=1)


def push_key(event: ImageEvent) -> PushKey:
    return PushKey(event.registry.lower(), event.repository, event.tag, event.digest)


def covered_by_poll(session: Session, event: ImageEvent) -> str | None:
    """For the webhook intake, before it plans an event's runs: the id of the poll
    event that already started this push's runs (the webhook is then a duplicate of
    it), or None, having recorded that a webhook took the push in."""
    if event.source == POLL or not event.tag:
        return None
    now = event.received_at or utcnow()
    return push_sightings.take_for_webhook(
        session, push_key(event), event.source, now, now - WEBHOOK_AFTER_POLL
    )


def poll_takes(session: Session, event: ImageEvent, not_before: datetime) -> bool:
    """For the poller: whether its event is new, no webhook having reported the push
    at or after `not_before` (the start of the previous poll)."""
    now = event.received_at or utcnow()
    return push_sightings.take_for_poll(session, push_key(event), event.id, now, not_before)
