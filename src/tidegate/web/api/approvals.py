"""`/api/v1/approvals`: the inbox, and approving or rejecting."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query

from tidegate.engine import control
from tidegate.store import approvals as store
from tidegate.web.auth import Approver, Caller, Viewer
from tidegate.web.schemas import ApprovalOut, DecisionIn
from tidegate.web.serialize import approval_out
from tidegate.web.state import AppState, app_state

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])
State = Annotated[AppState, Depends(app_state)]


@router.get("", response_model=list[ApprovalOut])
async def list_approvals(
    _caller: Viewer,
    state: State,
    status: Annotated[
        str | None, Query(description="pending, approved, rejected, timed_out, cancelled")
    ] = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[
        str | None, Query(description="page on: the id of the last approval of the page before")
    ] = None,
) -> list[ApprovalOut]:
    def query() -> list[ApprovalOut]:
        with state.db.session() as session:
            rows = store.list_approvals(session, status=status or None, limit=limit, before=before)
            decided = store.decisions_for(session, [row.id for row in rows])
            return [approval_out(row, decided[row.id]) for row in rows]

    return await asyncio.to_thread(query)


async def _decide(
    state: AppState, approval_id: str, caller: Caller, decision: str, body: DecisionIn | None
) -> ApprovalOut:
    comment = body.comment if body else ""
    await control.decide(state.runtime, approval_id, caller.user, decision, comment, caller.groups)

    def query() -> ApprovalOut:
        with state.db.session() as session:
            row = store.get_approval(session, approval_id)
            assert row is not None  # decide() found it
            return approval_out(row, store.decisions(session, row.id))

    return await asyncio.to_thread(query)


@router.post("/{approval_id}/approve", response_model=ApprovalOut)
async def approve(
    approval_id: str,
    caller: Approver,
    state: State,
    body: Annotated[DecisionIn | None, Body()] = None,
) -> ApprovalOut:
    """Approve as the caller; the approval settles once `required` people approved."""
    return await _decide(state, approval_id, caller, "approve", body)


@router.post("/{approval_id}/reject", response_model=ApprovalOut)
async def reject(
    approval_id: str,
    caller: Approver,
    state: State,
    body: Annotated[DecisionIn | None, Body()] = None,
) -> ApprovalOut:
    """Reject as the caller: any listed approver's rejection fails the job."""
    return await _decide(state, approval_id, caller, "reject", body)
