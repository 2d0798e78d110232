"""Store rows → response models, in one place so the API and `--json` agree."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tidegate.pushback.callback import redact_url
from tidegate.store import approvals as store_approvals
from tidegate.store import audit as store_audit
from tidegate.store import deliveries as store_deliveries
from tidegate.store import promotions as store_promotions
from tidegate.store import runs as store_runs
from tidegate.store.events import to_image_event
from tidegate.store.models import Approval, ApprovalDecision, Event, Run
from tidegate.store.waiting import waiting_for
from tidegate.web.schemas import (
    ApprovalOut,
    AuditOut,
    DecisionOut,
    DeliveryOut,
    EventOut,
    JobOut,
    PromotionOut,
    RunDetail,
    RunOut,
    StepOut,
    WaitingOut,
)


def event_out(row: Event, *, reveal: bool = False) -> EventOut:
    """An event; Docker Hub's callback URL (a secret) is shown whole to admins only."""
    event = to_image_event(row)
    fields = event.model_dump(exclude={"raw", "received_at"})
    if not reveal and fields["callback_url"]:
        fields["callback_url"] = redact_url(fields["callback_url"])
    return EventOut(
        **fields,
        received_at=row.received_at,
        run_count=row.run_count,
        image=event.image,
    )


def run_out(row: Run, base_url: str) -> RunOut:
    return RunOut.model_validate({**_columns(row), "url": f"{base_url}/runs/{row.id}"})


def _columns(row: Run) -> dict[str, object]:
    return {column.key: getattr(row, column.key) for column in Run.__mapper__.column_attrs}


def approval_out(row: Approval, decisions: list[ApprovalDecision]) -> ApprovalOut:
    out = ApprovalOut.model_validate(row)
    out.decisions = [DecisionOut.model_validate(d) for d in decisions]
    return out


# Intake refuses bodies nested deeper than 32 levels (events/grammar.py); events stored
# before it did may nest to any depth, past what the JSON encoder walks.
RAW_MAX_DEPTH = 64


def raw_body(row: Event, *, reveal: bool = False) -> dict[str, Any]:
    """The event's stored body; containers nested deeper than RAW_MAX_DEPTH are a note."""
    raw = {key: _capped(value, 2) for key, value in row.raw.items()}
    if not reveal and isinstance(raw.get("callback_url"), str):
        raw["callback_url"] = redact_url(raw["callback_url"])
    return raw


def _capped(value: Any, depth: int) -> Any:
    # Recursion stops at RAW_MAX_DEPTH, whatever the depth of `value`.
    if not isinstance(value, dict | list):
        return value
    if depth > RAW_MAX_DEPTH:
        return f"(nested deeper than {RAW_MAX_DEPTH} levels: not shown)"
    if isinstance(value, dict):
        return {key: _capped(item, depth + 1) for key, item in value.items()}
    return [_capped(item, depth + 1) for item in value]


def run_detail(
    session: Session, row: Run, event: Event, base_url: str, *, reveal: bool = False
) -> RunDetail:
    rows = store_approvals.list_for_run(session, row.id)
    decided = store_approvals.decisions_for(session, [a.id for a in rows])
    approvals = [approval_out(a, decided[a.id]) for a in rows]
    waiting = waiting_for(session, row)
    return RunDetail.model_validate(
        {
            **run_out(row, base_url).model_dump(),
            "workflow_file": row.workflow_file,
            "event": event_out(event, reveal=reveal),
            "jobs": [JobOut.model_validate(j) for j in store_runs.jobs_of(session, row.id)],
            "steps": [StepOut.model_validate(s) for s in store_runs.steps_of(session, row.id)],
            "approvals": approvals,
            "audit": [
                AuditOut.model_validate(entry)
                for entry in store_audit.entries_for(session, [row.id, *(a.id for a in rows)])
            ],
            "promotions": [
                PromotionOut.model_validate(p)
                for p in store_promotions.promotions_of(session, row.id)
            ],
            "deliveries": [
                DeliveryOut.model_validate(d)
                for d in store_deliveries.deliveries_of(session, row.id)
            ],
            "waiting_for": WaitingOut.model_validate(waiting) if waiting else None,
        }
    )
