"""Store rows → response models, in one place so the API and `--json` agree."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tidegate.store import approvals as store_approvals
from tidegate.store import deliveries as store_deliveries
from tidegate.store import runs as store_runs
from tidegate.store.events import to_image_event
from tidegate.store.models import Approval, Event, Run
from tidegate.web.schemas import (
    ApprovalOut,
    DecisionOut,
    DeliveryOut,
    EventOut,
    JobOut,
    RunDetail,
    RunOut,
    StepOut,
)


def event_out(row: Event) -> EventOut:
    event = to_image_event(row)
    return EventOut(
        **event.model_dump(exclude={"raw", "received_at"}),
        received_at=row.received_at,
        run_count=row.run_count,
        image=event.image,
    )


def run_out(row: Run, base_url: str) -> RunOut:
    return RunOut.model_validate({**_columns(row), "url": f"{base_url}/runs/{row.id}"})


def _columns(row: Run) -> dict[str, object]:
    return {column.key: getattr(row, column.key) for column in Run.__mapper__.column_attrs}


def approval_out(session: Session, row: Approval) -> ApprovalOut:
    out = ApprovalOut.model_validate(row)
    out.decisions = [
        DecisionOut.model_validate(d) for d in store_approvals.decisions(session, row.id)
    ]
    return out


def run_detail(session: Session, row: Run, event: Event, base_url: str) -> RunDetail:
    approvals = [approval_out(session, a) for a in store_approvals.list_for_run(session, row.id)]
    return RunDetail.model_validate(
        {
            **run_out(row, base_url).model_dump(),
            "workflow_file": row.workflow_file,
            "event": event_out(event),
            "jobs": [JobOut.model_validate(j) for j in store_runs.jobs_of(session, row.id)],
            "steps": [StepOut.model_validate(s) for s in store_runs.steps_of(session, row.id)],
            "approvals": approvals,
            "deliveries": [
                DeliveryOut.model_validate(d)
                for d in store_deliveries.deliveries_of(session, row.id)
            ],
        }
    )
