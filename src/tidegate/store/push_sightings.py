"""Who took in a push last, webhook or poll: one row per (registry, repository, tag,
digest), written by one upsert whose WHERE decides, so that a webhook and a poll seeing
the same push at the same moment cannot both win (the row's lock on PostgreSQL, the
single writer on SQLite). One statement, no savepoint: the webhook path stays one
round trip longer, not three.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, Insert, Select, Table, and_, bindparam, delete, not_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tidegate.store.models import PushSighting

POLL = "poll"  # the poller's events' source (workflows/polling.py POLL_SOURCE)
_TABLE = cast(Table, PushSighting.__table__)
_KEY = ("registry", "repository", "tag", "digest")


class PushKey(NamedTuple):
    registry: str
    repository: str
    tag: str
    digest: str  # "" for a webhook that names no digest (Docker Hub)


# The statements are built once, their values bound at each execution: the webhook path
# runs one per event, and building one costs more than running it on SQLite.
_AT_KEY = and_(*(_TABLE.c[name] == bindparam(name) for name in _KEY))


def _upsert(dialect: str, where: ColumnElement[bool]) -> Insert:
    """Insert the row, or update it where `where` holds; RETURNING says whether anything
    was written (psycopg reports -1 for an upsert's rowcount)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = ("source", "event_id", "seen_at")
    statement = insert(_TABLE).values({name: bindparam(name) for name in (*_KEY, *values)})
    statement = statement.on_conflict_do_update(
        index_elements=list(_KEY),
        # The values inserted: the same as the literal values, bound once.
        set_={name: statement.excluded[name] for name in values},
        where=where,
    )
    return statement.returning(_TABLE.c.seen_at)


# A poll takes the push unless someone took it in at or after `not_before`.
_POLL_WHERE = _TABLE.c.seen_at < bindparam("not_before")
# A webhook takes the push unless a poll did at or after `since`.
_WEBHOOK_WHERE = not_(and_(_TABLE.c.source == POLL, _TABLE.c.seen_at >= bindparam("since")))
_DIALECTS = ("postgresql", "sqlite")
_POLL_UPSERT = {name: _upsert(name, _POLL_WHERE) for name in _DIALECTS}
_WEBHOOK_UPSERT = {name: _upsert(name, _WEBHOOK_WHERE) for name in _DIALECTS}
_REPORTED: Select[Any] = select(_TABLE.c.seen_at).where(
    _AT_KEY, _TABLE.c.seen_at >= bindparam("not_before")
)
_EVENT_ID: Select[Any] = select(_TABLE.c.event_id).where(_AT_KEY)


def _written(session: Session, upserts: dict[str, Insert], params: dict[str, Any]) -> bool:
    connection = session.connection()  # Core, past the ORM's execution layer
    return connection.execute(upserts[connection.dialect.name], params).first() is not None


def take_for_poll(
    session: Session, key: PushKey, event_id: str, now: datetime, not_before: datetime
) -> bool:
    """The poll takes the push unless someone took it in at or after `not_before` (the
    start of the poll before: a webhook since then reported this very push), or a
    webhook named the tag without a digest since then."""
    tag_only = key._replace(digest="")._asdict()
    reported = session.connection().execute(_REPORTED, {**tag_only, "not_before": not_before})
    if reported.first() is not None:
        return False
    values = {"source": POLL, "event_id": event_id, "seen_at": now, "not_before": not_before}
    return _written(session, _POLL_UPSERT, {**key._asdict(), **values})


def take_for_webhook(
    session: Session, key: PushKey, source: str, now: datetime, since: datetime
) -> str | None:
    """Record that a webhook took the push in, unless a poll did at or after `since`:
    then nothing is written and the poll's event id is returned."""
    values = {"source": source, "event_id": "", "seen_at": now, "since": since}
    if _written(session, _WEBHOOK_UPSERT, {**key._asdict(), **values}):
        return None
    found = session.connection().execute(_EVENT_ID, key._asdict()).scalar()
    return found or ""


def forget_before(session: Session, before: datetime) -> int:
    """Drop sightings older than any window still asks about."""
    gone = session.execute(delete(PushSighting).where(PushSighting.seen_at < before))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]
