"""Records of outbound push-back: callbacks and notifications."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidegate.store.ids import new_id
from tidegate.store.models import Delivery


def record_delivery(
    session: Session,
    *,
    run_id: str,
    kind: str,
    target: str,
    delivered: bool,
    attempts: int,
    status_code: int | None,
    error: str,
) -> Delivery:
    row = Delivery(
        id=new_id("dl"),
        run_id=run_id,
        kind=kind,
        target=target,
        delivered=delivered,
        attempts=attempts,
        status_code=status_code,
        error=error,
    )
    session.add(row)
    return row


def deliveries_of(session: Session, run_id: str) -> list[Delivery]:
    return list(session.scalars(select(Delivery).where(Delivery.run_id == run_id)))


def already_delivered(session: Session, run_id: str, kind: str, target: str) -> bool:
    return (
        session.scalar(
            select(Delivery.id).where(
                Delivery.run_id == run_id,
                Delivery.kind == kind,
                Delivery.target == target,
                Delivery.delivered.is_(True),
            )
        )
        is not None
    )
