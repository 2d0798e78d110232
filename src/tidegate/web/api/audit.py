"""`/api/v1/audit`: the audit trail, newest first (admins only).

Who decided, cancelled, re-ran or replayed what, and who created, revoked or changed
hooks, tokens and users. The entries of one run and its approvals are also in the run's
own answer (`GET /api/v1/runs/{id}`, `audit`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from tidegate.store import audit
from tidegate.web.auth import Admin
from tidegate.web.params import Limit
from tidegate.web.schemas import AuditOut
from tidegate.web.state import State, in_session

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=list[AuditOut])
async def list_audit(
    _caller: Admin,
    state: State,
    limit: Limit = 100,
    before: Annotated[
        int | None,
        # Bounded by the id column (BIGINT): a larger number is a 422, not a database error.
        Query(ge=1, le=2**63 - 1, description="page on: the id of the last entry before"),
    ] = None,
    target: Annotated[
        str | None,
        Query(
            max_length=255,
            description="only entries about this run, approval, hook, "
            "token (its id) or user (their name)",
        ),
    ] = None,
    actor: Annotated[
        str | None, Query(max_length=200, description="only entries of this person")
    ] = None,
) -> list[AuditOut]:
    """Recent entries, newest first."""

    def query(session: Session) -> list[AuditOut]:
        rows = audit.recent(session, limit=limit, before=before, target=target, actor=actor)
        return [AuditOut.model_validate(row) for row in rows]

    return await in_session(state, query)
