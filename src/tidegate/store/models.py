"""Tables. Plain declarative models: no behaviour beyond their columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


TS = UTCDateTime()


class Hook(Base):
    """A webhook endpoint: a source and the hash of its secret token."""

    __tablename__ = "hooks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The registry hosts (host[:port]) a `registry` hook serves; events naming any other
    # host are ignored. Empty: not bound (older hooks, and the first start's).
    registries: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    # For a source that signs or sends an auth header (events/sources/auth.py): the
    # secret itself, as an HMAC needs it; shown once, never served back. NULL: none.
    secret: Mapped[str | None] = mapped_column(String(512))
    # The header the secret comes in, where the operator names it (ECR); NULL: default.
    secret_header: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)


class ApiToken(Base):
    """An API token: who it speaks for and with which role."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)


class Event(Base):
    """A stored ImageEvent. (source, delivery_id) is unique: a redelivery is a no-op."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "delivery_id", name="uq_events_delivery"),
        Index("ix_events_received", "received_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    hook_id: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(32))
    # Widths match the limits intake enforces (events/grammar.py), on every database.
    delivery_id: Mapped[str] = mapped_column(String(255))
    # `registry` is reserved by declarative classes; the column keeps the contract name.
    registry_host: Mapped[str] = mapped_column("registry", String(255))
    repository: Mapped[str] = mapped_column(String(255))
    tag: Mapped[str] = mapped_column(String(128), default="")
    digest: Mapped[str] = mapped_column(String(255), default="")
    media_type: Mapped[str] = mapped_column(String(255), default="")
    pusher: Mapped[str] = mapped_column(String(255), default="")
    pushed_at: Mapped[datetime | None] = mapped_column(TS)
    callback_url: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    run_count: Mapped[int] = mapped_column(Integer, default=0)


class Run(Base):
    """One workflow run for one event, with the workflow snapshot it started with."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_created", "created_at"),
        Index("ix_runs_status", "status"),
        Index("ix_runs_event", "event_id"),
        # Retention (store/retention.py): the prune's range scans, and the per-workflow list.
        Index("ix_runs_prunable", "pruned_at", "finished_at"),
        Index("ix_runs_workflow", "workflow_name", "id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    workflow_name: Mapped[str] = mapped_column(String(200))
    workflow_file: Mapped[str] = mapped_column(Text, default="")
    workflow_text: Mapped[str] = mapped_column(Text)
    workflow_digest: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    trigger: Mapped[str] = mapped_column(String(16), default="webhook")
    rerun_of: Mapped[str | None] = mapped_column(String(40))
    # Rendered from event values, so as long as they may be together.
    concurrency_key: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str] = mapped_column(Text, default="")
    digest: Mapped[str] = mapped_column(String(255), default="")
    # Why the tag could not be pinned to a digest when the run started ("" if it was).
    digest_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    error: Mapped[str] = mapped_column(Text, default="")
    # True when Tidegate itself failed (not the user's step): the callback says "error".
    engine_error: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    # When retention removed its log, steps and deliveries, keeping the run for its
    # promotions and approvals (the audit trail); None while it has them.
    pruned_at: Mapped[datetime | None] = mapped_column(TS)


class Job(Base):
    __tablename__ = "jobs"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    needs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)


class Step(Base):
    __tablename__ = "steps"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)


class LogLine(Base):
    __tablename__ = "log_lines"
    __table_args__ = (Index("ix_log_lines_run", "run_id", "id"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str] = mapped_column(String(100))
    step_index: Mapped[int] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(TS)
    stream: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)


class Approval(Base):
    __tablename__ = "approvals"
    __table_args__ = (
        Index("ix_approvals_status_deadline", "status", "deadline"),
        Index("ix_approvals_run", "run_id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    job_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    approvers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    required: Mapped[int] = mapped_column(Integer, default=1)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    deadline: Mapped[datetime | None] = mapped_column(TS)
    decided_at: Mapped[datetime | None] = mapped_column(TS)


class ApprovalDecision(Base):
    __tablename__ = "approval_decisions"
    __table_args__ = (UniqueConstraint("approval_id", "user", name="uq_decision_user"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    approval_id: Mapped[str] = mapped_column(ForeignKey("approvals.id"))
    user: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Delivery(Base):
    """An outbound push-back attempt (callback or notification) and how it went."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_run", "run_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(Text)  # redacted
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Promotion(Base):
    """An image promoted by a run: the pinned digest, where it went, who let it."""

    __tablename__ = "promotions"
    __table_args__ = (
        UniqueConstraint("run_id", "destination", name="uq_promotion_destination"),
        Index("ix_promotions_run", "run_id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    source: Mapped[str] = mapped_column(Text)  # registry/repository@digest
    destination: Mapped[str] = mapped_column(Text)  # registry/repository:tag
    digest: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))  # promoted | unchanged | skipped
    approved_by: Mapped[list[Any]] = mapped_column(JSON, default=list)
    at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class User(Base):
    """A person who signs in: locally with a password, or through OIDC (no password)."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(Text)  # Argon2; None for OIDC users
    origin: Mapped[str] = mapped_column(String(16), default="local")  # local | oidc
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(TS)


class WebSession(Base):
    """A signed-in browser: the cookie holds a token, the database only its hash."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # An OIDC identity's groups (for `group:NAME` approvers); local users have none here.
    groups: Mapped[list[Any]] = mapped_column(JSON, default=list)
    csrf: Mapped[str] = mapped_column(String(64))  # the token every form of it carries
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TS)
    ended_at: Mapped[datetime | None] = mapped_column(TS)


class AuditEntry(Base):
    """Who did what: decisions, cancels, re-runs, replays, hook, token and user changes."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_target", "target"), Index("ix_audit_at", "at"))
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))  # e.g. run.cancel, approval.approve
    target: Mapped[str] = mapped_column(String(255))  # the run, approval, hook, token, user
    detail: Mapped[str] = mapped_column(Text, default="")


class Lease(Base):
    """A job only one process may do at a time (the prune): who holds it, until when."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), default="")
    expires_at: Mapped[datetime] = mapped_column(TS)


class PollTarget(Base):
    """One repository a workflow polls on one registry (poll/poller.py): each tag's
    digest at the last poll, when the next is due, and the process polling it now."""

    __tablename__ = "poll_targets"
    __table_args__ = (
        UniqueConstraint("workflow", "registry", "repository", name="uq_poll_target"),
        Index("ix_poll_targets_due", "next_due"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(100))
    registry_host: Mapped[str] = mapped_column("registry", String(255))
    repository: Mapped[str] = mapped_column(String(255))
    interval_ms: Mapped[int] = mapped_column(Integer)
    filter_key: Mapped[str] = mapped_column(String(64), default="")  # tags recorded under it
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # tag -> digest
    polled_at: Mapped[datetime | None] = mapped_column(TS)  # start of the last good poll
    next_due: Mapped[datetime] = mapped_column(TS)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    lease_holder: Mapped[str] = mapped_column(String(200), default="")
    lease_until: Mapped[datetime | None] = mapped_column(TS)


class PushSighting(Base):
    """Who took in a push (registry, repository, tag, digest) last, webhook or poll, and
    when: a webhook and a poll that see one push start one run (events/poll_dedup.py)."""

    __tablename__ = "push_sightings"
    __table_args__ = (Index("ix_push_sightings_seen", "seen_at"),)
    registry_host: Mapped[str] = mapped_column("registry", String(255), primary_key=True)
    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    tag: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[str] = mapped_column(String(255), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(40), default="")
    seen_at: Mapped[datetime] = mapped_column(TS)
