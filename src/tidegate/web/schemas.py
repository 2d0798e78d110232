"""The API's response models: what the API returns and what `--json` prints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    error: str
    detail: str
    field: str | None = None


class EventOut(Out):
    id: str
    source: str
    delivery_id: str
    registry: str
    repository: str
    tag: str
    digest: str
    media_type: str
    pusher: str
    pushed_at: datetime | None
    callback_url: str
    received_at: datetime
    run_count: int
    image: str


class EventDetail(EventOut):
    raw: dict[str, Any]
    runs: list[RunOut]


class RunOut(Out):
    id: str
    event_id: str
    workflow_name: str
    status: str
    trigger: str
    rerun_of: str | None
    concurrency_key: str | None
    image: str
    digest: str
    digest_error: str
    error: str
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    url: str


class StepOut(Out):
    job_id: str
    index: int
    name: str
    kind: str
    status: str
    attempts: int
    exit_code: int | None
    error: str
    started_at: datetime | None
    finished_at: datetime | None


class JobOut(Out):
    job_id: str
    status: str
    needs: list[str]
    started_at: datetime | None
    finished_at: datetime | None


class DecisionOut(Out):
    user: str
    decision: str
    comment: str
    at: datetime


class ApprovalOut(Out):
    id: str
    run_id: str
    job_id: str
    status: str
    approvers: list[str]
    required: int
    message: str
    created_at: datetime
    deadline: datetime | None
    decided_at: datetime | None
    decisions: list[DecisionOut] = []


class DeliveryOut(Out):
    kind: str
    target: str
    delivered: bool
    attempts: int
    status_code: int | None
    error: str
    at: datetime


class PromotionOut(Out):
    source: str
    destination: str
    digest: str
    outcome: str
    approved_by: list[str]
    at: datetime


class RunDetail(RunOut):
    workflow_file: str
    event: EventOut
    jobs: list[JobOut]
    steps: list[StepOut]
    approvals: list[ApprovalOut]
    deliveries: list[DeliveryOut]
    promotions: list[PromotionOut] = []


class IntakeOut(BaseModel):
    events: list[str]
    runs: list[str]
    duplicates: list[str]
    unmatched: list[str]
    ignored: list[str]


class HookOut(Out):
    id: str
    source: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class HookCreated(HookOut):
    url: str
    token: str


class HookCreate(BaseModel):
    source: str
    name: str = ""


class DecisionIn(BaseModel):
    comment: str = ""


class ProblemOut(BaseModel):
    file: str
    line: int
    column: int
    message: str


class WorkflowOut(BaseModel):
    name: str
    file: str
    digest: str
    repositories: list[str]
    tags: list[str]
    jobs: list[str]


class WorkflowsOut(BaseModel):
    workflows: list[WorkflowOut]
    problems: list[ProblemOut]


class ValidateOut(BaseModel):
    valid: bool
    problems: list[ProblemOut]


class RunsStarted(BaseModel):
    runs: list[str]


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


EventDetail.model_rebuild()
