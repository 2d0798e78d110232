"""Who took in a push last, webhook or poll: one row per (registry, repository, tag,
digest), written by one upsert whose WHERE decides, so that a webhook and a poll seeing
the same push at the same moment cannot both win (the row's lock on PostgreSQL, the
single writer on SQLite). One statement, no savepoint: the webhook path stays one
round trip longer, not three.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, and_, delete, not_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tidegate.store.models import PushSighting

POLL = "poll"  # the poller's events' source (workflows/polling.py POLL_SOURCE)
_TABLE = cast(Table, PushSighting.__table__)


class PushKey(NamedTuple):
    registry: str
    repository: str
    tag: str
    digest: str  # "" for a webhook that names no digest (Docker Hub)


def _key(key: PushKey) -> Any:
    return and_(
        PushSighting.registry_host == key.registry,
        PushSighting.repository == key.repository,
        PushSighting.tag == key.tag,
        PushSighting.digest == key.digest,
    )


def _upsert(session: Session, key: PushKey, values: dict[str, Any], where: Any) -> bool:
    """Insert the row, or update it where `where` holds; whether anything was written."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row = {
        "registry": key.registry,
        "repository": key.repository,
        "tag": key.tag,
        "digest": key.digest,
        **values,
    }
    statement = insert(_TABLE).values(row)
    statement = statement.on_conflict_do_update(
        index_elements=["registry", "repository", "tag", "digest"],
        set_=values,
        where=where,
    )
    # RETURNING, not rowcount: psycopg reports -1 for an upsert's rowcount.
    return session.execute(statement.returning(_TABLE.c.seen_at)).first() is not None


def take_for_poll(
    session: Session, key: PushKey, event_id: str, now: datetime, not_before: datetime
) -> bool:
    """The poll takes the push unless someone took it in at or after `not_before` (the
    start of the poll before: a webhook since then reported this very push), or a
    webhook named the tag without a digest since then."""
    tag_only = key._replace(digest="")
    reported = session.scalar(
        select(PushSighting.seen_at).where(_key(tag_only), PushSighting.seen_at >= not_before)
    )
    if reported is not None:
        return False
    values = {"source": POLL, "event_id": event_id, "seen_at": now}
    return _upsert(session, key, values, PushSighting.seen_at < not_before)


def take_for_webhook(
    session: Session, key: PushKey, source: str, now: datetime, since: datetime
) -> str | None:
    """Record that a webhook took the push in, unless a poll did at or after `since`:
    then nothing is written and the poll's event id is returned."""
    values = {"source": source, "event_id": "", "seen_at": now}
    polled = and_(PushSighting.source == POLL, PushSighting.seen_at >= since)
    if _upsert(session, key, values, not_(polled)):
        return None
    found = session.scalar(select(PushSighting.event_id).where(_key(key)))
    return found or ""


def forget_before(session: Session, before: datetime) -> int:
    """Drop sightings older than any window still asks about."""
    gone = session.execute(delete(PushSighting).where(PushSighting.seen_at < before))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]
