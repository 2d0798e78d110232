"""Approvals and the decisions people make on them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tidegate.store.ids import new_id
from tidegate.store.models import Approval, ApprovalDecision, utcnow


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
