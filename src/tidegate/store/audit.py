"""The audit trail: who did what to which run, approval, hook, token or user."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidegate.store.models import AuditEntry

# Actions, by the thing they act on. Each entry's `target` is that thing's id (a user's
# name for user actions).
ACTIONS = (
    "approval.approve",
    "approval.reject",
    "run.cancel",
    "run.rerun",
    "event.replay",
    "hook.create",
    "hook.revoke",
    "token.create",
    "token.revoke",
    "user.create",
    "user.disable",
    "user.password",
    "user.role",
)


def record(session: Session, actor: str, action: str, target: str, detail: str = "") -> None:
    """Add one entry, in the caller's transaction: it lands with the change it records."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    session.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))


def entries_for(session: Session, targets: list[str]) -> list[AuditEntry]:
    """What was done to any of `targets`, oldest first."""
    query = select(AuditEntry).where(AuditEntry.target.in_(targets)).order_by(AuditEntry.id)
    return list(session.scalars(query))


def recent(
    session: Session,
    limit: int = 100,
    before: int | None = None,
    target: str | None = None,
    actor: str | None = None,
) -> list[AuditEntry]:
    """The newest entries first; `before` pages on (the last id of the page before)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    return list(session.scalars(query))
