"""`/approvals`: the approvals the signed-in person may decide, oldest first.

Deciding happens on the run's page (`/runs/{id}#approval`), where the run's context is;
this page is the inbox that leads there.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from tidegate.store import approvals as store_approvals
from tidegate.store.models import Approval, Run
from tidegate.store.runs import get_run
from tidegate.web.state import AppState, app_state
from tidegate.web.ui import pagefmt
from tidegate.web.ui.access import Page
from tidegate.web.ui.templating import decidable, render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Waiting:
    """One approval as the inbox shows it."""

    approval: Approval
    run: Run | None
    given: int  # approvals given so far (of `approval.required`)
    mine: str  # this person's decision so far: "" or "approve"


def _inbox(state: AppState, user: str, approvals: list[Approval]) -> list[Waiting]:
    with state.db.session() as session:
        decided = store_approvals.decisions_for(session, [a.id for a in approvals])
        rows = []
        for approval in approvals:
            decisions = decided[approval.id]
            rows.append(
                Waiting(
                    approval=approval,
                    run=get_run(session, approval.run_id),
                    given=sum(d.decision == "approve" for d in decisions),
                    mine=next((d.decision for d in decisions if d.user == user), ""),
                )
            )
        return rows


@router.get("/approvals")
async def approvals_page(request: Request, signed: Page) -> Response:
    state = app_state(request)
    caller = signed.caller
    mine = await asyncio.to_thread(decidable, state, caller)
    rows = await asyncio.to_thread(_inbox, state, caller.user, mine)
    return await render(
        request,
        "approvals.html",
        signed,
        section="approvals",
        rows=rows,
        can_decide=caller.ranks("approver"),
        now=datetime.now(UTC),
        fmt=pagefmt,
    )
