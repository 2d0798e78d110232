"""The run page's forms: approve, reject, cancel, re-run.

Each checks the role, then the session's CSRF token (`checked_form`: 403 otherwise, and
nothing changes), then asks the engine as the API does. Success goes back to the page
(303); a refusal of ours shows why: not an approver of this approval is a 403 page, an
approval already settled or a run already finished is the run page with the reason.
"""

from __future__ import annotations

import asyncio
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from tidegate.engine import control
from tidegate.errors import Conflict, Forbidden, NotFound
from tidegate.store import approvals as store_approvals
from tidegate.web.schemas import storable
from tidegate.web.state import State
from tidegate.web.ui.access import Page, checked_form
from tidegate.web.ui.run_views import refused, show_run

router = APIRouter(include_in_schema=False)
COMMENT_MAX = 4000


def _back(run_id: str, anchor: str = "") -> Response:
    return RedirectResponse(f"/runs/{quote(run_id, safe='')}{anchor}", 303)


@router.post("/runs/{run_id}/approvals/{approval_id}/{verb}")
async def decide(
    request: Request,
    signed: Page,
    state: State,
    run_id: str,
    approval_id: str,
    verb: Literal["approve", "reject"],
) -> Response:
    form = await checked_form(request, signed, "approver")
    comment = form.get("comment", "")
    comment = comment.strip() if isinstance(comment, str) else ""
    try:
        comment = storable(comment)
    except ValueError as exc:
        return await show_run(
            request, signed, state, run_id, notice=f"The comment {exc}.", status_code=400
        )
    if len(comment) > COMMENT_MAX:
        notice = f"The comment is longer than {COMMENT_MAX} characters."
        return await show_run(request, signed, state, run_id, notice=notice, status_code=400)

    def of_run() -> bool:
        with state.db.session() as session:
            row = store_approvals.get_approval(session, approval_id)
            return row is not None and row.run_id == run_id

    if not await asyncio.to_thread(of_run):
        return await refused(
            request, signed, 404, "No such approval", f"Run {run_id} has no approval {approval_id}."
        )
    caller = signed.caller
    try:
        await control.decide(state.runtime, approval_id, caller.user, verb, comment, caller.groups)
    except Forbidden:
        message = f"{caller.user} is not one of the people who may decide this approval."
        return await refused(request, signed, 403, "Not yours to decide", message)
    except Conflict as exc:
        return await show_run(request, signed, state, run_id, notice=exc.message, status_code=409)
    return _back(run_id, "#approval")


@router.post("/runs/{run_id}/cancel")
async def cancel(request: Request, signed: Page, state: State, run_id: str) -> Response:
    await checked_form(request, signed, "approver")
    try:
        await control.cancel(state.runtime, run_id, signed.caller.user)
    except NotFound as exc:
        return await refused(request, signed, 404, "No such run", exc.message)
    except Conflict as exc:
        return await show_run(request, signed, state, run_id, notice=exc.message, status_code=409)
    return _back(run_id)


@router.post("/runs/{run_id}/rerun")
async def rerun(request: Request, signed: Page, state: State, run_id: str) -> Response:
    await checked_form(request, signed, "approver")
    try:
        new_id = await control.rerun(state.runtime, run_id, signed.caller.user, state.launcher.wake)
    except NotFound as exc:
        return await refused(request, signed, 404, "No such run", exc.message)
    except Conflict as exc:
        return await show_run(request, signed, state, run_id, notice=exc.message, status_code=409)
    return _back(new_id)
