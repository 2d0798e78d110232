"""`/api/v1/approvals`: the inbox, and approving or rejecting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from sqlalchemy.orm import Session

from tidegate.engine import control
from tidegate.store import approvals as store
from tidegate.web.auth import Approver, Caller, Viewer
from tidegate.web.params import Limit
from tidegate.web.schemas import ApprovalOut, DecisionIn
from tidegate.web.serialize import approval_out
from tidegate.web.state import AppState, State, in_session

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])


@router.get("", response_model=list[ApprovalOut])
async def list_approvals(
    _caller: Viewer,
    state: State,
    status: Annotated[
        str | None, Query(description="pending, approved, rejected, timed_out, cancelled")
    ] = "pending",
    limit: Limit = 100,
    before: Annotated[
        str | None, Query(description="page on: the id of the last approval of the page before")
    ] = None,
) -> list[ApprovalOut]:
    def query(session: Session) -> list[ApprovalOut]:
        rows = store.list_approvals(session, status=status or None, limit=limit, before=before)
        decided = store.decisions_for(session, [row.id for row in rows])
        return [approval_out(row, decided[row.id]) for row in rows]

    return await in_session(state, query)


async def _decide(
    state: AppState, approval_id: str, caller: Caller, decision: str, body: DecisionIn | None
) -> ApprovalOut:
    comment = body.comment if body else ""
    await control.decide(state.runtime, approval_id, caller.user, decision, comment, caller.groups)

    def query(session: Session) -> ApprovalOut:
        row = store.get_approval(session, approval_id)
        assert row is not None  # decide() found it
        return approval_out(row, store.decisions(session, row.id))

    return await in_session(state, query)


# A decision's optional comment.
DecisionBody = Annotated[DecisionIn | None, Body()]


def _decision_route(decision: str, doc: str) -> None:
    """`POST /{approval_id}/<decision>`: the two decisions differ in their word alone."""

    async def decide(
        approval_id: str, caller: Approver, state: State, body: DecisionBody = None
    ) -> ApprovalOut:
        return await _decide(state, approval_id, caller, decision, body)

    decide.__doc__ = doc
    router.add_api_route(
        f"/{{approval_id}}/{decision}",
        decide,
        methods=["POST"],
        response_model=ApprovalOut,
        name=decision,  # the operation's id and summary, as a function of that name gave
    )


_decision_route(
    "approve", "Approve as the caller; the approval settles once `required` people approved."
)
_decision_route("reject", "Reject as the caller: any listed approver's rejection fails the job.")
