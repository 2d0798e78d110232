"""The API's models: what it returns (and `--json` prints), and what it accepts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from tidegate.events.binding import canonical_registries, canonical_registry
from tidegate.events.hooks import checked_secret
from tidegate.events.sources import SOURCES


def storable(value: str) -> str:
    """Text every database stores: PostgreSQL refuses NUL, and a lone surrogate (JSON's
    `\\ud800` makes one) is not UTF-8."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


# Input text. One stored in a fixed-width column also takes the column's width:
# Annotated[str, Field(max_length=N), AfterValidator(storable)].
Text = Annotated[str, AfterValidator(storable)]


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
    # When retention removed its log, steps and deliveries (kept for its promotions
    # and approvals); null while they are there.
    pruned_at: datetime | None = None
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


class AuditOut(Out):
    """One entry of the audit trail: who did what to which run, approval, hook, token or
    user (`target`: its id; a user's name)."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: str


class PromotionOut(Out):
    source: str
    destination: str
    digest: str
    outcome: str
    approved_by: list[str]
    at: datetime


class WaitingOut(Out):
    """What a queued or waiting run waits for (see store/waiting.py)."""

    reason: str  # concurrency | approval | start
    message: str
    needs_decision: bool  # only a person's decision moves it on
    run_id: str | None = None  # the run holding the concurrency key
    approval_id: str | None = None
    concurrency_key: str | None = None


class RunDetail(RunOut):
    workflow_file: str
    event: EventOut
    jobs: list[JobOut]
    steps: list[StepOut]
    approvals: list[ApprovalOut]
    deliveries: list[DeliveryOut]
    promotions: list[PromotionOut] = []
    audit: list[AuditOut] = []  # what people did to the run and its approvals, oldest first
    waiting_for: WaitingOut | None = None  # queued or waiting runs: what holds them


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
    registries: list[str] = []  # host[:port] a `registry` hook serves; empty: not bound
    # Whether it checks its sender with a secret (never served back), and in which
    # header an ECR hook reads it (null: the default, X-Api-Key).
    has_secret: bool = False
    secret_header: str | None = None
    created_at: datetime
    revoked_at: datetime | None

    @model_validator(mode="before")
    @classmethod
    def _secret_kept(cls, value: Any) -> Any:
        if hasattr(value, "secret"):  # a Hook row: say whether, never what
            return {k: getattr(value, k) for k in cls.model_fields if hasattr(value, k)} | {
                "has_secret": bool(value.secret)
            }
        return value


class HookCreated(HookOut):
    url: str
    token: str
    secret: str = ""  # made for the hook (none was given): shown only now


class HookCreate(BaseModel):
    source: Text
    name: Annotated[str, Field(max_length=200), AfterValidator(storable)] = ""  # hooks.name
    # A `registry` hook's registries (host[:port]): events naming another are ignored.
    registries: list[str] = Field(default=[], max_length=100)
    # What the sender signs with or sends (harbor, ghcr, acr, ecr, artifactory,
    # cloudevents); none: a new one, returned once. `secret_header`: ECR's API key header.
    secret: Annotated[str | None, Field(max_length=512)] = None
    secret_header: Annotated[str, Field(max_length=100)] = ""

    @field_validator("registries")
    @classmethod
    def _canonical(cls, value: list[str]) -> list[str]:
        return [canonical_registry(r) for r in value]

    @model_validator(mode="after")
    def _bindable(self) -> HookCreate:
        self.registries = canonical_registries(self.source, self.registries)
        if self.source in SOURCES:  # an unknown one is the 404 of `create_hook`
            checked_secret(self.source, self.secret, self.secret_header)
        return self


class DecisionIn(BaseModel):
    comment: Text = ""


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
