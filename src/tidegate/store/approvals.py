"""Approvals and the decisions people make on them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from tidegate.status import JOB_FINAL
from tidegate.store.ids import new_id
from tidegate.store.models import Approval, ApprovalDecision, Job, Run, utcnow


def find_for_job(session: Session, run_id: str, job_id: str) -> Approval | None:
    return session.scalar(
        select(Approval).where(Approval.run_id == run_id, Approval.job_id == job_id)
    )


def create_approval(
    session: Session,
    *,
    run_id: str,
    job_id: str,
    approvers: list[str],
    required: int,
    message: str,
    deadline: datetime | None,
    status: str = "pending",
) -> Approval:
    """The job's approval; created once even when the engine replays the job."""
    existing = find_for_job(session, run_id, job_id)
    if existing is not None:
        return existing
    row = Approval(
        id=new_id("ap"),
        run_id=run_id,
        job_id=job_id,
        approvers=approvers,
        required=required,
        message=message,
        deadline=deadline,
        status=status,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def get_approval(session: Session, approval_id: str) -> Approval | None:
    return session.get(Approval, approval_id)


def lock_approval(session: Session, approval_id: str) -> Approval | None:
    """The approval, with its row locked for the rest of the transaction.

    A no-op UPDATE takes the lock on both backends (a row lock on PostgreSQL, the
    write lock on SQLite), so concurrent decisions are counted one after the other.
    """
    result = session.execute(
        update(Approval).where(Approval.id == approval_id).values(status=Approval.status)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return session.get(Approval, approval_id, populate_existing=True)


def pending_for_run(session: Session, run_id: str) -> list[Approval]:
    return list(
        session.scalars(
            select(Approval).where(Approval.run_id == run_id, Approval.status == "pending")
        )
    )


def list_approvals(
    session: Session, *, status: str | None = None, limit: int = 100, before: str | None = None
) -> list[Approval]:
    query = select(Approval).order_by(Approval.id.desc()).limit(limit)
    if status:
        query = query.where(Approval.status == status)
    if before:
        query = query.where(Approval.id < before)
    return list(session.scalars(query))


def decisions_for(session: Session, approval_ids: list[str]) -> dict[str, list[ApprovalDecision]]:
    """Decisions of many approvals in one query."""
    found: dict[str, list[ApprovalDecision]] = {approval_id: [] for approval_id in approval_ids}
    if approval_ids:
        rows = session.scalars(
            select(ApprovalDecision)
            .where(ApprovalDecision.approval_id.in_(approval_ids))
            .order_by(ApprovalDecision.id)
        )
        for row in rows:
            found[row.approval_id].append(row)
    return found


def decisions(session: Session, approval_id: str) -> list[ApprovalDecision]:
    return list(
        session.scalars(
            select(ApprovalDecision)
            .where(ApprovalDecision.approval_id == approval_id)
            .order_by(ApprovalDecision.id)
        )
    )


def record_decision(
    session: Session, approval: Approval, user: str, decision: str, comment: str
) -> ApprovalDecision:
    """One decision per person: repeating it changes nothing, a different one replaces it."""
    row = session.scalar(
        select(ApprovalDecision).where(
            ApprovalDecision.approval_id == approval.id, ApprovalDecision.user == user
        )
    )
    if row is not None and row.decision == decision:
        return row
    if row is None:
        row = ApprovalDecision(approval_id=approval.id, user=user)
        session.add(row)
    row.decision = decision
    row.comment = comment
    row.at = utcnow()
    session.flush()
    return row


def close_approval(session: Session, approval_id: str, status: str) -> bool:
    """Settle a pending approval; False when it was already settled (first one wins)."""
    result = session.execute(
        update(Approval)
        .where(Approval.id == approval_id, Approval.status == "pending")
        .values(status=status, decided_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_for_run(session: Session, run_id: str) -> list[Approval]:
    return list(
        session.scalars(select(Approval).where(Approval.run_id == run_id).order_by(Approval.id))
    )


def _parked_runs() -> list[ColumnElement[bool]]:
    """Runs that park at an approval: live, and without a concurrency key (see
    `waiting.parks`)."""
    return [Run.status.in_(["running", "waiting"]), Run.concurrency_key.is_(None)]


def due(session: Session, now: datetime) -> list[Approval]:
    """Pending approvals of parked runs whose deadline has passed."""
    return list(
        session.scalars(
            select(Approval)
            .join(Run, Run.id == Approval.run_id)
            .where(Approval.status == "pending", Approval.deadline <= now, *_parked_runs())
        )
    )


def decided_of_live_runs(session: Session) -> list[tuple[str, str]]:
    """(run id, approval id) of settled approvals whose parked run has not ended: each
    needs its run's continuation (started already, or lost to a crash)."""
    rows = session.execute(
        select(Approval.run_id, Approval.id)
        .join(Run, Run.id == Approval.run_id)
        .where(Approval.status != "pending", *_parked_runs())
        .order_by(Approval.id)
    )
    return [(run_id, approval_id) for run_id, approval_id in rows]


_JOB_FINAL = [str(status) for status in JOB_FINAL]


def end_job(session: Session, run_id: str, job_id: str, status: str) -> bool:
    """End an approval job as its approval was settled; False when it had ended already
    (the decision and the job's own workflow may both try: the first one counts)."""
    result = session.execute(
        update(Job)
        .where(Job.run_id == run_id, Job.job_id == job_id, Job.status.not_in(_JOB_FINAL))
        .values(status=status, finished_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def job_status(session: Session, run_id: str, job_id: str) -> str | None:
    return session.scalar(select(Job.status).where(Job.run_id == run_id, Job.job_id == job_id))
