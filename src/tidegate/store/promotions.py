"""Promotions: which pinned digest a run put under which reference, and who approved."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidegate.store.ids import new_id
from tidegate.store.models import Approval, ApprovalDecision, Promotion, utcnow


def record_promotion(
    session: Session,
    *,
    run_id: str,
    source: str,
    destination: str,
    digest: str,
    outcome: str,
    approved_by: list[str],
) -> Promotion:
    """One row per (run, destination): repeating a promotion updates it, never doubles it."""
    row = session.scalar(
        select(Promotion).where(Promotion.run_id == run_id, Promotion.destination == destination)
    )
    if row is None:
        row = Promotion(id=new_id("pr"), run_id=run_id, destination=destination)
        session.add(row)
    row.source = source
    row.digest = digest
    row.outcome = outcome
    row.approved_by = approved_by
    row.at = utcnow()
    session.flush()
    return row


def promotions_of(session: Session, run_id: str) -> list[Promotion]:
    return list(
        session.scalars(select(Promotion).where(Promotion.run_id == run_id).order_by(Promotion.at))
    )


def approvers_of(session: Session, run_id: str) -> list[str]:
    """Everyone whose approval let this run go on, in the order they decided."""
    rows = session.scalars(
        select(ApprovalDecision.user)
        .join(Approval, Approval.id == ApprovalDecision.approval_id)
        .where(Approval.run_id == run_id, ApprovalDecision.decision == "approve")
        .order_by(ApprovalDecision.at)
    )
    return list(dict.fromkeys(rows))
