"""The run page (`/runs/{id}`) and what it loads besides: its live part, earlier log
lines, a step's place in the log, the whole log as text, and the live log stream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from tidegate.errors import NotFound
from tidegate.store import logs as store_logs
from tidegate.store import runs as store_runs
from tidegate.web.api.runs import format_line
from tidegate.web.auth import Caller
from tidegate.web.state import AppState, State
from tidegate.web.ui import pagefmt
from tidegate.web.ui.access import Page
from tidegate.web.ui.jobs import step_names
from tidegate.web.ui.logstream import open_stream
from tidegate.web.ui.logview import LogWindow, read_window
from tidegate.web.ui.run_page import RunView, read_page, read_run
from tidegate.web.ui.templating import page, render

router = APIRouter(include_in_schema=False)
LineId = Annotated[int | None, Query(ge=0)]
TEXT_PAGE = 5000


async def show_run(
    request: Request,
    signed: Page,
    state: AppState,
    run_id: str,
    *,
    notice: str = "",
    status_code: int = 200,
    log_before: int | None = None,
    log_after: int | None = None,
) -> Response:
    """The run page; actions that fail show it again with `notice` (and their status)."""
    try:
        view = await asyncio.to_thread(
            read_page, state, run_id, signed.caller, log_before=log_before, log_after=log_after
        )
    except NotFound as exc:
        return await refused(request, signed, 404, "No such run", exc.message)
    view.notice = notice
    return await render(
        request,
        "run.html",
        signed,
        status_code=status_code,
        section="runs",
        view=view,
        groups=state.settings.groups,
        fmt=pagefmt,
    )


async def refused(
    request: Request, signed: Page, status_code: int, title: str, message: str
) -> Response:
    """A page saying why not: 403 (not yours to decide), 404 (no such run)."""
    return await render(
        request,
        "run_refused.html",
        signed,
        status_code=status_code,
        section="runs",
        title=title,
        message=message,
    )


@router.get("/runs/{run_id}")
async def run_page(
    request: Request,
    signed: Page,
    state: State,
    run_id: str,
    log_before: LineId = None,
    log_after: LineId = None,
) -> Response:
    return await show_run(
        request, signed, state, run_id, log_before=log_before, log_after=log_after
    )


def _read_live(state: AppState, run_id: str, caller: Caller) -> RunView:
    with state.db.session() as session:
        return read_run(session, state, run_id, caller)


@router.get("/runs/{run_id}/live")
async def run_live(request: Request, signed: Page, state: State, run_id: str) -> Response:
    """Status, actions, graph and steps: what htmx re-reads while the run is live."""
    try:
        view = await asyncio.to_thread(_read_live, state, run_id, signed.caller)
    except NotFound as exc:
        return Response(exc.message, 404)
    return page(request, "_run_live.html", signed, view=view)


@router.get("/runs/{run_id}/log/lines")
async def earlier_lines(
    request: Request,
    signed: Page,
    state: State,
    run_id: str,
    before: Annotated[int, Query(ge=0)],
) -> Response:
    """The page of lines before `before` and, if more lie before them, the link on."""

    def read() -> LogWindow:
        with state.db.session() as session:
            names = step_names(store_runs.steps_of(session, run_id))
            return read_window(session, run_id, names, before=before)

    window = await asyncio.to_thread(read)
    return page(request, "_run_log_lines.html", signed, run_id=run_id, log=window)


@router.get("/runs/{run_id}/log/step/{job_id}/{index}")
async def step_log(_signed: Page, state: State, run_id: str, job_id: str, index: int) -> Response:
    """To the step's first line in the log (`#l…` on a window that starts there)."""

    def first() -> int | None:
        with state.db.session() as session:
            return store_logs.first_line_of_step(session, run_id, job_id, index)

    line = await asyncio.to_thread(first)
    run = quote(run_id, safe="")
    if line is None:
        return RedirectResponse(f"/runs/{run}#job-{quote(job_id, safe='')}", 303)
    return RedirectResponse(f"/runs/{run}?log_after={line - 1}#l{line}", 303)


@router.get("/runs/{run_id}/log.txt")
async def log_text(_signed: Page, state: State, run_id: str) -> Response:
    """The whole log as text (as the API's), read a page at a time while it is sent."""

    def exists() -> bool:
        with state.db.session() as session:
            return store_runs.get_run(session, run_id) is not None

    if not await asyncio.to_thread(exists):
        return Response(f"run {run_id} does not exist", 404)

    def pages() -> Iterator[str]:
        after = 0
        while True:
            with state.db.session() as session:
                lines = store_logs.lines_after(session, run_id, after, limit=TEXT_PAGE)
            if not lines:
                return
            yield "".join(format_line(line) + "\n" for line in lines)
            after = lines[-1].id

    return StreamingResponse(pages(), media_type="text/plain; charset=utf-8")


@router.get("/runs/{run_id}/log/stream")
async def log_stream(
    request: Request, signed: Page, state: State, run_id: str, after: LineId = None
) -> Response:
    """Server-sent events: the log's lines from `after` on, as the page's HTML."""
    resume = request.headers.get("last-event-id", "")
    start = int(resume) if resume.isdigit() else after or 0
    try:
        events = await open_stream(state, run_id, start)
    except NotFound as exc:
        return Response(exc.message, 404)
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
