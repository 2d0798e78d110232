"""Removing one batch of finished runs, in short write transactions.

A run leaves in pieces: its log lines first, `ROWS` at a time, each chunk its own
transaction (a run may hold tens of thousands of lines), then its steps, jobs and
deliveries and the run itself in one last one. A run with promotions or approvals
keeps its row and those (the audit trail) and is marked `pruned_at` instead. A crash
between the pieces leaves a finished run with part of its log: the next prune
selects it again and finishes the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from tidegate.store.db import Database
from tidegate.store.models import (
    Approval,
    ApprovalDecision,
    Delivery,
    Job,
    LogLine,
    Promotion,
    Run,
    Step,
)

# Rows per write transaction. SQLite holds its one write lock for a transaction's
# length: 1,000 log lines, or the rest of 50 runs, take ~5-15 ms here (a commit's
# fsync is most of it), so a webhook behind the prune waits about that long.
ROWS = 1_000
# After each write the prune rests as long as it wrote (at least PAUSE): a webhook
# waiting on the lock gets it, rather than losing to the prune's next transaction
# while SQLite's busy handler backs off.
PAUSE = 0.002


@dataclass
class Removed:
    """What a prune removed (or, dry, would remove), and what it cost."""

    runs: int = 0  # removed whole
    kept_for_audit: int = 0  # log, steps and deliveries removed; row, promotions, approvals kept
    log_lines: int = 0
    steps: int = 0
    jobs: int = 0
    deliveries: int = 0
    approvals: int = 0
    promotions: int = 0
    events: int = 0
    audit_entries: int = 0
    web_sessions: int = 0  # signed out or expired
    workspaces: int = 0
    seconds: float = 0.0
    longest_write: float = 0.0  # the longest write transaction: SQLite's lock hold
    writes: int = 0
    notes: list[str] = field(default_factory=list)

    def total(self) -> int:
        counted = (
            "runs",
            "kept_for_audit",
            "log_lines",
            "events",
            "audit_entries",
            "web_sessions",
            "workspaces",
        )
        return sum(getattr(self, name) for name in counted)

    def counts(self) -> dict[str, int]:
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), int)
        }


class Writer:
    """Short transactions, each timed: the prune's cost to everyone else."""

    def __init__(self, db: Database, removed: Removed) -> None:
        self.db = db
        self.removed = removed
        self.dry_removed: list[str] = []  # a dry run's runs it would remove whole
        self.dry_seen: set[str] = set()  # and every run it counted

    def run(self, work: Callable[[Session], int]) -> int:
        start = time.perf_counter()
        with self.db.session() as session:
            count = work(session)
        took = time.perf_counter() - start
        self.removed.writes += 1
        self.removed.longest_write = max(self.removed.longest_write, took)
        time.sleep(max(took, PAUSE))
        return count


def rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class RunParts:
    """What a run's durable records are named after: its jobs and approvals."""

    jobs: tuple[str, ...] = ()
    approvals: tuple[str, ...] = ()


def parts_of(session: Session, run_ids: Sequence[str]) -> dict[str, RunParts]:
    jobs: dict[str, list[str]] = {run_id: [] for run_id in run_ids}
    approvals: dict[str, list[str]] = {run_id: [] for run_id in run_ids}
    for run_id, job_id in session.execute(
        select(Job.run_id, Job.job_id).where(Job.run_id.in_(run_ids))
    ):
        jobs[run_id].append(job_id)
    for run_id, approval_id in session.execute(
        select(Approval.run_id, Approval.id).where(Approval.run_id.in_(run_ids))
    ):
        approvals[run_id].append(approval_id)
    return {r: RunParts(tuple(jobs[r]), tuple(approvals[r])) for r in run_ids}


def audit_runs(session: Session, run_ids: Sequence[str]) -> set[str]:
    """Those of `run_ids` with a promotion or an approval: part of the audit trail."""
    promoted = select(Promotion.run_id).where(Promotion.run_id.in_(run_ids))
    approved = select(Approval.run_id).where(Approval.run_id.in_(run_ids))
    return set(session.scalars(promoted)) | set(session.scalars(approved))


def remove_runs(
    writer: Writer,
    run_ids: Sequence[str],
    keep: Iterable[str],
    now: datetime,
) -> None:
    """Remove finished runs `run_ids`; those in `keep` stay as audit rows (pruned_at)."""
    ids = list(run_ids)
    kept = [run_id for run_id in ids if run_id in set(keep)]
    whole = [run_id for run_id in ids if run_id not in set(kept)]
    removed = writer.removed

    def log_chunk(session: Session) -> int:
        chunk = select(LogLine.id).where(LogLine.run_id.in_(ids)).limit(ROWS)
        return rowcount(session.execute(delete(LogLine).where(LogLine.id.in_(chunk))))

    while True:
        gone = writer.run(log_chunk)
        removed.log_lines += gone
        if gone < ROWS:
            break

    def the_rest(session: Session) -> int:
        removed.steps += rowcount(session.execute(delete(Step).where(Step.run_id.in_(ids))))
        removed.jobs += rowcount(session.execute(delete(Job).where(Job.run_id.in_(ids))))
        removed.deliveries += rowcount(
            session.execute(delete(Delivery).where(Delivery.run_id.in_(ids)))
        )
        if whole:
            remove_audit_rows(session, whole, removed)
            removed.runs += rowcount(session.execute(delete(Run).where(Run.id.in_(whole))))
        if kept:
            marked = update(Run).where(Run.id.in_(kept)).values(pruned_at=now)
            removed.kept_for_audit += rowcount(session.execute(marked))
        return len(ids)

    writer.run(the_rest)


def remove_audit_rows(session: Session, run_ids: Sequence[str], removed: Removed) -> None:
    """A run's approvals, their decisions and its promotions (before the run: keys)."""
    approvals = select(Approval.id).where(Approval.run_id.in_(run_ids))
    session.execute(delete(ApprovalDecision).where(ApprovalDecision.approval_id.in_(approvals)))
    removed.approvals += rowcount(
        session.execute(delete(Approval).where(Approval.run_id.in_(run_ids)))
    )
    removed.promotions += rowcount(
        session.execute(delete(Promotion).where(Promotion.run_id.in_(run_ids)))
    )


def count_runs(session: Session, run_ids: Sequence[str], keep: set[str], removed: Removed) -> None:
    """A dry run's tally for one batch: what `remove_runs` would remove."""
    ids = list(run_ids)

    def rows(column: InstrumentedAttribute[str]) -> int:
        return int(session.scalar(select(func.count()).where(column.in_(ids))) or 0)

    removed.log_lines += rows(LogLine.run_id)
    removed.steps += rows(Step.run_id)
    removed.jobs += rows(Job.run_id)
    removed.deliveries += rows(Delivery.run_id)
    whole = [run_id for run_id in ids if run_id not in keep]
    removed.kept_for_audit += len(ids) - len(whole)
    removed.runs += len(whole)
    if whole:
        removed.approvals += int(
            session.scalar(select(func.count()).where(Approval.run_id.in_(whole))) or 0
        )
        removed.promotions += int(
            session.scalar(select(func.count()).where(Promotion.run_id.in_(whole))) or 0
        )
