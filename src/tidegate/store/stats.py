"""What the database says about the whole installation, counted for `/metrics`.

Counted at each scrape from the tables every process writes, so the figures are the
installation's (any number of `serve` processes on one database) and survive restarts.
Each count is one GROUP BY over an indexed status column or a small table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tidegate.store.models import Approval, Delivery, Event, Promotion, Run, Step
from tidegate.store.runs import FINAL


@dataclass(frozen=True)
class Counts:
    events: dict[str, int] = field(default_factory=dict)  # by source
    runs_finished: dict[tuple[str, str], int] = field(default_factory=dict)  # workflow, status
    runs_active: dict[tuple[str, str], int] = field(default_factory=dict)  # workflow, status
    steps_finished: dict[tuple[str, str], int] = field(default_factory=dict)  # kind, status
    approvals_pending: int = 0
    promotions: dict[str, int] = field(default_factory=dict)  # by outcome
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)  # kind, delivered?


def counts(session: Session) -> Counts:
    runs = session.execute(
        select(Run.workflow_name, Run.status, func.count()).group_by(Run.workflow_name, Run.status)
    ).all()
    steps = session.execute(
        select(Step.kind, Step.status, func.count())
        .where(Step.status.in_(FINAL | {"skipped"}))
        .group_by(Step.kind, Step.status)
    ).all()
    deliveries = session.execute(
        select(Delivery.kind, Delivery.delivered, func.count()).group_by(
            Delivery.kind, Delivery.delivered
        )
    ).all()
    return Counts(
        events=_by_one(session.execute(select(Event.source, func.count()).group_by(Event.source))),
        runs_finished={(w, s): n for w, s, n in runs if s in FINAL},
        runs_active={(w, s): n for w, s, n in runs if s not in FINAL},
        steps_finished={(k, s): n for k, s, n in steps},
        approvals_pending=session.scalar(
            select(func.count()).select_from(Approval).where(Approval.status == "pending")
        )
        or 0,
        promotions=_by_one(
            session.execute(select(Promotion.outcome, func.count()).group_by(Promotion.outcome))
        ),
        deliveries={(k, "delivered" if d else "not_delivered"): n for k, d, n in deliveries},
    )


def _by_one(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    return {str(key): int(n) for key, n in rows}
