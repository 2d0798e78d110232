"""`/api/v1/events`: stored webhook events, and replaying one."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from sqlalchemy.orm import Session

from tidegate.engine import control
from tidegate.errors import NotFound
from tidegate.store import events as store_events
from tidegate.store import runs as store_runs
from tidegate.web.auth import Approver, Viewer
from tidegate.web.params import Limit
from tidegate.web.schemas import EventDetail, EventOut, RunsStarted
from tidegate.web.serialize import event_out, raw_body, run_out
from tidegate.web.state import State, in_session

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.get("", response_model=list[EventOut])
async def list_events(
    caller: Viewer,
    state: State,
    limit: Limit = 50,
    repository: str | None = None,
    before: str | None = None,
) -> list[EventOut]:
    def query(session: Session) -> list[EventOut]:
        rows = store_events.list_events(session, limit=limit, repository=repository, before=before)
        return [event_out(row, reveal=caller.role == "admin") for row in rows]

    return await in_session(state, query)


@router.get("/{event_id}", response_model=EventDetail)
async def get_event(event_id: str, caller: Viewer, state: State) -> EventDetail:
    reveal = caller.role == "admin"

    def query(session: Session) -> EventDetail:
        row = store_events.get_event(session, event_id)
        if row is None:
            raise NotFound(f"event {event_id} does not exist")
        runs = store_runs.list_runs(session, event_id=event_id, limit=500)
        return EventDetail(
            **event_out(row, reveal=reveal).model_dump(),
            raw=raw_body(row, reveal=reveal),
            runs=[run_out(r, state.settings.base_url) for r in runs],
        )

    return await in_session(state, query)


@router.post("/{event_id}/replay", status_code=202, response_model=RunsStarted)
async def replay_event(event_id: str, caller: Approver, state: State) -> RunsStarted:
    """Match the stored event against the current workflows again; start what matches."""
    loaded = await asyncio.to_thread(state.workflows.load)
    runs = await control.replay(
        state.runtime, event_id, loaded.workflows, caller.user, state.launcher.wake
    )
    return RunsStarted(runs=runs)
