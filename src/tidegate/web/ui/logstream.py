"""The run page's live log: server-sent events for the signed-in viewer.

The API streams the same lines to bearer tokens (`/api/v1/runs/{id}/logs?follow=1`);
a browser's EventSource cannot send one, so the page has this stream behind its session.
Each event carries a batch of lines as the page's own HTML (logview.py) and, as its id,
the last line's id: a reconnecting EventSource sends it back (Last-Event-ID) and
resumes after it. `end` says the run finished and every line was sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tidegate.errors import NotFound
from tidegate.store import logs as store_logs
from tidegate.store import runs as store_runs
from tidegate.store.models import LogLine
from tidegate.web.state import AppState
from tidegate.web.ui.jobs import step_names
from tidegate.web.ui.logview import StepKey, render_lines

POLL_SECONDS = 0.3
KEEPALIVE_SECONDS = 15.0
BATCH = 500


@dataclass
class _Cursor:
    after: int
    number: int  # the next line's number in the whole log
    step: StepKey | None  # the step of the line before, to head a new step's lines


def _start(state: AppState, run_id: str, after: int) -> _Cursor:
    with state.db.session() as session:
        if store_runs.get_run(session, run_id) is None:
            raise NotFound(f"run {run_id} does not exist")
        before = session.get(LogLine, after) if after else None
        step = (before.job_id, before.step_index) if before and before.run_id == run_id else None
        number = store_logs.count_lines(session, run_id, before_id=after + 1) + 1 if after else 1
    return _Cursor(after, number, step)


def _next(state: AppState, run_id: str, cursor: _Cursor) -> tuple[str, str, bool]:
    """The next batch as (event id, data) and whether the run has finished."""
    with state.db.session() as session:
        run = store_runs.get_run(session, run_id)
        final = run is None or run.status in store_runs.FINAL
        lines = store_logs.lines_after(session, run_id, cursor.after, limit=BATCH)
        if not lines:
            return "", "", final
        html, cursor.step = render_lines(lines, cursor.number, _names(session, run_id), cursor.step)
    cursor.after = lines[-1].id
    cursor.number += len(lines)
    # More lines may follow in the next batch even once the run is final.
    return str(cursor.after), json.dumps({"html": str(html), "last": cursor.after}), False


def _names(session: Session, run_id: str) -> dict[StepKey, str]:
    return step_names(store_runs.steps_of(session, run_id))


async def open_stream(state: AppState, run_id: str, after: int) -> AsyncIterator[str]:
    """Check the run exists (a 404, not a stream cut short), then stream from `after`."""
    cursor = await asyncio.to_thread(_start, state, run_id, after)
    return _follow(state, run_id, cursor)


async def _follow(state: AppState, run_id: str, cursor: _Cursor) -> AsyncIterator[str]:
    yield "retry: 3000\n\n"
    quiet_since = time.monotonic()
    while True:
        event_id, data, final = await asyncio.to_thread(_next, state, run_id, cursor)
        if event_id:
            yield f"id: {event_id}\nevent: lines\ndata: {data}\n\n"
            quiet_since = time.monotonic()
            continue
        if final:
            yield "event: end\ndata: {}\n\n"
            return
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield ": still running\n\n"  # keeps proxies from closing an idle stream
            quiet_since = time.monotonic()
        await asyncio.sleep(POLL_SECONDS)
