"""Poll targets: the repositories workflows poll, their tags' digests, and their leases.

A target is polled by one process at a time, whichever claims it first: a conditional
UPDATE that takes the lease only where it is free or expired (both databases apply it
atomically: PostgreSQL re-checks the WHERE on the row it waited for), and a poll's
result is written only while its poller still holds the lease. So several processes
sharing one database never poll a repository twice over, and a process that dies
mid-poll leaves a lease that expires, not a stuck target.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tidegate.store.ids import new_id
from tidegate.store.models import PollTarget


@dataclass(frozen=True)
class Wanted:
    """A repository a workflow's `on.image.poll` names, on one registry."""

    workflow: str
    registry: str
    repository: str
    interval: float  # seconds


@dataclass(frozen=True)
class Target:
    """A claimed target as it was when claimed."""

    id: str
    workflow: str
    registry: str
    repository: str
    interval: float
    filter_key: str
    tags: Mapping[str, str]
    polled_at: datetime | None
    failures: int
    last_error: str


def sync_targets(session: Session, wanted: Sequence[Wanted], now: datetime) -> None:
    """Make the targets those `wanted`: new ones due within their first interval, gone
    ones dropped (with their tags: polling them again starts from a first poll),
    intervals brought up to date.

    First polls are spread at random over the interval, and each next poll is due one
    interval after the last began, so the polls of many repositories stay spread out:
    a push waits for its own repository's poll, not for a burst of all of them."""
    want = {(w.workflow, w.registry, w.repository): w for w in wanted}
    rows = {
        (t.workflow, t.registry_host, t.repository): t for t in session.scalars(select(PollTarget))
    }
    for key, row in rows.items():
        found = want.get(key)
        if found is None:
            session.delete(row)
        elif row.interval_ms != _ms(found.interval):
            row.interval_ms = _ms(found.interval)
            row.next_due = min(row.next_due, now + timedelta(seconds=found.interval))
    for key, w in want.items():
        if key in rows:
            continue
        try:
            with session.begin_nested():  # another process may add the same target
                session.add(
                    PollTarget(
                        id=new_id("poll"),
                        workflow=w.workflow,
                        registry_host=w.registry,
                        repository=w.repository,
                        interval_ms=_ms(w.interval),
                        filter_key="",
                        tags={},
                        next_due=now + timedelta(seconds=random.uniform(0, w.interval)),
                        failures=0,
                        last_error="",
                        lease_holder="",
                    )
                )
        except IntegrityError:
            pass


def claim_due(
    session: Session,
    holder: str,
    now: datetime,
    lease: timedelta,
    *,
    busy: Collection[str] = (),
    limit: int = 1000,
) -> list[Target]:
    """Take the lease of targets due by `now` whose lease is free, leaving out the
    registries in `busy` (still being polled here); the ones this call got."""
    free = or_(PollTarget.lease_until.is_(None), PollTarget.lease_until < now)
    query = select(PollTarget.id).where(PollTarget.next_due <= now, free)
    if busy:
        query = query.where(PollTarget.registry_host.not_in(list(busy)))
    candidates = list(session.scalars(query.order_by(PollTarget.next_due).limit(limit)))
    claimed = []
    for target_id in candidates:
        taken = session.execute(
            update(PollTarget)
            .where(PollTarget.id == target_id, PollTarget.next_due <= now, free)
            .values(lease_holder=holder, lease_until=now + lease)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(target_id)
    if not claimed:
        return []
    rows = session.scalars(select(PollTarget).where(PollTarget.id.in_(claimed)))
    return [_target(row) for row in rows]


def earliest_due(session: Session) -> datetime | None:
    return session.scalar(select(func.min(PollTarget.next_due)))


def finish(
    session: Session,
    target: Target,
    holder: str,
    *,
    tags: Mapping[str, str],
    filter_key: str,
    polled_at: datetime,
    next_due: datetime,
) -> bool:
    """Record a good poll and free the lease; False (nothing written) when the lease
    was lost meanwhile: another process polls the target now, and its result counts."""
    done = session.execute(
        update(PollTarget)
        .where(PollTarget.id == target.id, PollTarget.lease_holder == holder)
        .values(
            tags=dict(tags),
            filter_key=filter_key,
            polled_at=polled_at,
            next_due=next_due,
            failures=0,
            last_error="",
            lease_holder="",
            lease_until=None,
        )
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def fail(session: Session, target: Target, holder: str, error: str, next_due: datetime) -> None:
    """Record a failed poll (its tags stay as they were) and free the lease."""
    session.execute(
        update(PollTarget)
        .where(PollTarget.id == target.id, PollTarget.lease_holder == holder)
        .values(
            failures=target.failures + 1,
            last_error=error[:2000],
            next_due=next_due,
            lease_holder="",
            lease_until=None,
        )
    )


def release(session: Session, target: Target, holder: str) -> None:
    """Free the lease without a poll (the workflow stopped polling meanwhile)."""
    session.execute(
        update(PollTarget)
        .where(PollTarget.id == target.id, PollTarget.lease_holder == holder)
        .values(lease_holder="", lease_until=None)
    )


def release_all(session: Session, holder: str) -> None:
    """Free every lease `holder` has (a clean stop): another process may go on at once."""
    session.execute(
        update(PollTarget)
        .where(PollTarget.lease_holder == holder)
        .values(lease_holder="", lease_until=None)
    )


def list_targets(session: Session) -> list[Target]:
    rows = session.scalars(select(PollTarget).order_by(PollTarget.workflow, PollTarget.id))
    return [_target(row) for row in rows]


def forget_all(session: Session) -> None:
    session.execute(delete(PollTarget))


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _target(row: PollTarget) -> Target:
    return Target(
        id=row.id,
        workflow=row.workflow,
        registry=row.registry_host,
        repository=row.repository,
        interval=row.interval_ms / 1000,
        filter_key=row.filter_key,
        tags=dict(row.tags or {}),
        polled_at=row.polled_at,
        failures=row.failures,
        last_error=row.last_error,
    )
