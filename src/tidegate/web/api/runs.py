"""`/api/v1/runs`: runs, their logs (text or SSE), cancel and re-run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, StreamingResponse
from sqlalchemy.orm import Session

from tidegate.engine import control
from tidegate.errors import NotFound
from tidegate.store import events as store_events
from tidegate.store import logs as store_logs
from tidegate.store import runs as store_runs
from tidegate.store.models import LogLine
from tidegate.web.auth import Approver, Viewer
from tidegate.web.params import Limit
from tidegate.web.schemas import RunDetail, RunOut, RunsStarted
from tidegate.web.serialize import run_detail, run_out
from tidegate.web.state import AppState, State, in_session

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
FOLLOW_POLL_SECONDS = 0.3


@router.get("", response_model=list[RunOut])
async def list_runs(
    _caller: Viewer,
    state: State,
    limit: Limit = 50,
    status: str | None = None,
    event_id: str | None = None,
    workflow: str | None = None,
    before: str | None = None,
) -> list[RunOut]:
    def query(session: Session) -> list[RunOut]:
        rows = store_runs.list_runs(
            session, limit=limit, status=status, event_id=event_id, workflow=workflow, before=before
        )
        return [run_out(row, state.settings.base_url) for row in rows]

    return await in_session(state, query)


@router.get("/{run_id}", response_model=RunDetail)
async def get_run(run_id: str, caller: Viewer, state: State) -> RunDetail:
    def query(session: Session) -> RunDetail:
        row = store_runs.get_run(session, run_id)
        if row is None:
            raise NotFound(f"run {run_id} does not exist")
        event = store_events.get_event(session, row.event_id)
        assert event is not None
        reveal = caller.role == "admin"
        return run_detail(session, row, event, state.settings.base_url, reveal=reveal)

    return await in_session(state, query)


def format_line(line: LogLine) -> str:
    stamp = line.ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    where = f"{line.job_id}#{line.step_index}"
    return f"{stamp} {where} {line.stream}: {line.text}"


def _lines(state: AppState, run_id: str, after: int) -> tuple[list[LogLine], str | None]:
    with state.db.session() as session:
        run = store_runs.get_run(session, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        return store_logs.lines_after(session, run_id, after), run.status


@router.get(
    "/{run_id}/logs",
    response_class=PlainTextResponse,
    response_model=None,
    responses={200: {"content": {"text/plain": {}, "text/event-stream": {}}}},
)
async def logs(
    run_id: str,
    _caller: Viewer,
    state: State,
    follow: Annotated[
        bool, Query(description="stream as server-sent events until the run ends")
    ] = False,
) -> PlainTextResponse | StreamingResponse:
    """The run's output, one line per step output line, timestamped."""
    if not follow:
        return PlainTextResponse(await asyncio.to_thread(_all_text, state, run_id))
    # The first page before the answer: a missing run is a 404, not a stream cut short.
    first = await asyncio.to_thread(_lines, state, run_id, 0)
    return StreamingResponse(
        _follow(state, run_id, first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


def _all_text(state: AppState, run_id: str) -> str:
    """Every line, read in pages so a long log is never cut short."""
    parts: list[str] = []
    after = 0
    while True:
        lines, _status = _lines(state, run_id, after)
        if not lines:
            return "".join(parts)
        parts.extend(format_line(line) + "\n" for line in lines)
        after = lines[-1].id


async def _follow(
    state: AppState, run_id: str, page: tuple[list[LogLine], str | None]
) -> AsyncIterator[str]:
    after = 0
    while True:
        lines, status = page
        for line in lines:
            after = line.id
            data = {
                "id": line.id,
                "ts": line.ts.isoformat(),
                "job": line.job_id,
                "step": line.step_index,
                "stream": line.stream,
                "text": line.text,
            }
            yield f"id: {line.id}\nevent: line\ndata: {json.dumps(data)}\n\n"
        if not lines and status in store_runs.FINAL:
            yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
            return
        if not lines:
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
        page = await asyncio.to_thread(_lines, state, run_id, after)


@router.post("/{run_id}/cancel", status_code=202, response_model=RunsStarted)
async def cancel_run(run_id: str, caller: Approver, state: State) -> RunsStarted:
    """Stop a run: the running step is killed, approvals close, `finally` still runs."""
    await control.cancel(state.runtime, run_id, caller.user)
    return RunsStarted(runs=[run_id])


@router.post("/{run_id}/rerun", status_code=202, response_model=RunsStarted)
async def rerun(run_id: str, caller: Approver, state: State) -> RunsStarted:
    """Run the same workflow snapshot for the same event again, as a new run."""
    new_id = await control.rerun(state.runtime, run_id, caller.user, state.launcher.wake)
    return RunsStarted(runs=[new_id])
