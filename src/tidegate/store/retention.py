"""Retention: which finished runs, events and audit entries go, and removing them.

What goes (docs/operations.md, Retention), each limit 0 meaning "keep forever":

- a finished run past `run_days`, or past the newest `runs_per_workflow` of its
  workflow (an hour after it finished at the earliest: its durable workflow may still
  be recording its end), loses its log, steps, jobs and deliveries; the run itself
  goes too, unless it has promotions or approvals (the audit trail), which keep it
  until `audit_days`. Runs queued, running or waiting are never selected;
- audit entries past `audit_days`;
- events no run refers to, past `event_days` (a redelivery within it is still known).

Selection goes through indexes (migration 0006) and removal in batches of short
transactions (`pruning.py`), so webhooks are not held behind it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Delete, Select, delete, exists, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from tidegate.status import RUN_FINAL
from tidegate.store.db import Database
from tidegate.store.models import AuditEntry, Event, Run, WebSession
from tidegate.store.pruning import (
    ROWS,
    Removed,
    RunParts,
    Writer,
    audit_runs,
    count_runs,
    parts_of,
    remove_runs,
    rowcount,
)

# A run is left this long after its end whatever the count says.
SETTLE = timedelta(hours=1)
FINAL = [str(status) for status in RUN_FINAL]
CHUNK = 500  # ids per IN list
# Events per transaction: a row each, with its body (up to 1 MiB, most a few KiB).
EVENTS = 200


@dataclass(frozen=True)
class Policy:
    run_days: float = 30.0
    runs_per_workflow: int = 10_000
    audit_days: float = 365.0
    event_days: float = 30.0
    batch: int = 50  # runs per batch (pruning.py: short transactions)

    def cutoff(self, days: float, now: datetime) -> datetime | None:
        return now - timedelta(days=days) if days > 0 else None


# Called after each batch with the runs removed or emptied (their durable records can
# go); whether to go on (False: the lease was lost, or the process is stopping).
Progress = Callable[[dict[str, RunParts]], bool]


def _go_on(_gone: dict[str, RunParts]) -> bool:
    return True


def prune(
    db: Database,
    policy: Policy,
    now: datetime,
    *,
    dry_run: bool = False,
    progress: Progress = _go_on,
) -> Removed:
    """Remove (or, `dry_run`, count) what `policy` no longer keeps, as of `now`."""
    removed = Removed()
    start = time.perf_counter()
    writer = Writer(db, removed)
    audit_cut = policy.cutoff(policy.audit_days, now)
    for query in _run_selections(db, policy, now):
        if not _prune_runs(writer, query, policy, now, audit_cut, dry_run, progress):
            removed.notes.append("stopped early")
            break
    else:
        if audit_cut is not None:
            emptied = select(Run.id).where(Run.pruned_at.is_not(None), Run.finished_at < audit_cut)
            _prune_runs(writer, emptied, policy, now, audit_cut, dry_run, progress)
            removed.audit_entries += _prune_rows(
                writer,
                select(AuditEntry.id).where(AuditEntry.at < audit_cut),
                AuditEntry.id,
                dry_run,
            )
        event_cut = policy.cutoff(policy.event_days, now)
        if event_cut is not None:
            runless = select(Event.id).where(
                Event.received_at < event_cut, ~exists().where(Run.event_id == Event.id)
            )
            removed.events += _prune_rows(writer, runless, Event.id, dry_run, size=EVENTS)
            if dry_run:  # and those the runs it would remove leave without a run
                removed.events += _freed_events(db, writer.dry_removed, event_cut)
        # A signed-out or expired browser session never signs anyone in again.
        dead = select(WebSession.id).where(
            or_(WebSession.ended_at.is_not(None), WebSession.expires_at < now)
        )
        removed.web_sessions += _prune_rows(writer, dead, WebSession.id, dry_run)
    removed.seconds = time.perf_counter() - start
    return removed


def _run_selections(db: Database, policy: Policy, now: datetime) -> Iterator[Select[str]]:
    """Queries of finished, unpruned runs past the limits: by age, then by count."""
    unpruned = select(Run.id).where(Run.pruned_at.is_(None), Run.status.in_(FINAL))
    run_cut = policy.cutoff(policy.run_days, now)
    if run_cut is not None:
        yield unpruned.where(Run.finished_at < run_cut).order_by(Run.finished_at)
    if policy.runs_per_workflow > 0:
        for workflow, oldest_kept in _count_cutoffs(db, policy.runs_per_workflow):
            yield unpruned.where(
                Run.workflow_name == workflow,
                Run.id < oldest_kept,
                Run.finished_at < now - SETTLE,
            ).order_by(Run.id)


def _count_cutoffs(db: Database, keep: int) -> list[tuple[str, str]]:
    """Per workflow with more than `keep` finished runs, the oldest of the `keep`
    newest: older ones are past the count (through ix_runs_workflow)."""
    with db.session() as session:
        workflows = list(session.scalars(select(Run.workflow_name).distinct()))
        cutoffs = []
        for workflow in workflows:
            nth = session.scalar(
                select(Run.id)
                .where(
                    Run.workflow_name == workflow,
                    Run.pruned_at.is_(None),
                    Run.status.in_(FINAL),
                )
                .order_by(Run.id.desc())
                .offset(keep - 1)
                .limit(1)
            )
            if nth is not None:
                cutoffs.append((workflow, nth))
        return cutoffs


def _prune_runs(
    writer: Writer,
    query: Select[str],
    policy: Policy,
    now: datetime,
    audit_cut: datetime | None,
    dry_run: bool,
    progress: Progress,
) -> bool:
    """Every run `query` selects, a batch at a time; False when told to stop."""
    if dry_run:
        with writer.db.session() as session:
            # Not removed, a run past both limits is selected twice: counted once.
            ids = [run_id for run_id in session.scalars(query) if run_id not in writer.dry_seen]
            writer.dry_seen.update(ids)
            for at in range(0, len(ids), policy.batch):
                batch = ids[at : at + policy.batch]
                keep = _keep(session, batch, audit_cut)
                count_runs(session, batch, keep, writer.removed)
                writer.dry_removed.extend(run_id for run_id in batch if run_id not in keep)
        return True
    while True:
        with writer.db.session() as session:
            batch = list(session.scalars(query.limit(policy.batch)))
            keep = _keep(session, batch, audit_cut) if batch else set()
            gone = parts_of(session, batch)
        if not batch:
            return True
        remove_runs(writer, batch, keep, now)
        if not progress(gone):
            return False


def _freed_events(db: Database, run_ids: Sequence[str], cut: datetime) -> int:
    """How many events past `cut` would have no run left once `run_ids` are gone."""
    going: Counter[str] = Counter()
    with db.session() as session:
        for at in range(0, len(run_ids), CHUNK):
            chunk = run_ids[at : at + CHUNK]
            going.update(session.scalars(select(Run.event_id).where(Run.id.in_(chunk))))
        events = sorted(going)
        freed = 0
        for at in range(0, len(events), CHUNK):
            chunk = events[at : at + CHUNK]
            runs = session.execute(
                select(Run.event_id, func.count())
                .join(Event, Event.id == Run.event_id)
                .where(Run.event_id.in_(chunk), Event.received_at < cut)
                .group_by(Run.event_id)
            )
            freed += sum(1 for event_id, count in runs if count == going[event_id])
    return freed


def _keep(session: Session, batch: Sequence[str], audit_cut: datetime | None) -> set[str]:
    """Of `batch`, the runs kept as audit rows: with promotions or approvals, and
    newer than the audit limit."""
    audited = audit_runs(session, batch)
    if not audited or audit_cut is None:
        return audited
    young = select(Run.id).where(Run.id.in_(audited), Run.finished_at >= audit_cut)
    return set(session.scalars(young))


def _prune_rows(
    writer: Writer,
    query: Select[Any],
    key: InstrumentedAttribute[Any],
    dry_run: bool,
    size: int = ROWS,
) -> int:
    """Delete what `query` selects (ids of its table, `key`), `size` at a time."""
    table = key.class_
    if dry_run:
        with writer.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    total = 0
    while True:
        # Chosen before the write transaction, so the lock is held for the delete
        # alone; the delete checks the condition again (an event may have gained a
        # run meanwhile: a replay).
        with writer.db.session() as session:
            ids = list(session.scalars(query.limit(size)))
        if ids:
            still = delete(table).where(key.in_(ids))
            if query.whereclause is not None:
                still = still.where(query.whereclause)
            total += writer.run(partial(_execute, still))
        if len(ids) < size:
            return total


def _execute(statement: Delete, session: Session) -> int:
    return rowcount(session.execute(statement))
