"""Leases: a job that one process of many sharing a database does at a time.

A row per job names its holder and when the hold ends. Taking it is one conditional
UPDATE (the row is free when its hold has ended), atomic on both databases: SQLite
has one writer, and PostgreSQL re-checks the condition on a row another transaction
just changed. A holder that dies stops renewing, and the hold ends on its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from tidegate.store.db import Database
from tidegate.store.models import Lease


def acquire(db: Database, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    """Take `name` for `holder` until `now + ttl`; False when another holds it."""
    with db.session() as session:
        taken = session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.expires_at <= now, Lease.holder == holder))
            .values(holder=holder, expires_at=now + ttl)
        )
        if taken.rowcount:  # type: ignore[attr-defined]
            return True
        if session.get(Lease, name) is not None:
            return False
    try:  # the first time this job runs on this database
        with db.session() as session:
            session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
        return True
    except IntegrityError:  # another process made the row first, and holds it
        return False


def renew(db: Database, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    """Extend a hold; False when it was lost (it lapsed and another took it)."""
    with db.session() as session:
        kept = session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.holder == holder)
            .values(expires_at=now + ttl)
        )
        return bool(kept.rowcount)  # type: ignore[attr-defined]


def release(db: Database, name: str, holder: str, now: datetime) -> None:
    with db.session() as session:
        session.execute(
            update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=now)
        )


def holder_of(db: Database, name: str, now: datetime) -> str | None:
    """Who holds `name` now, if anyone."""
    with db.session() as session:
        row = session.get(Lease, name)
        return row.holder if row is not None and row.expires_at > now else None
