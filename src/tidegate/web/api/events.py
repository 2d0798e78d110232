"""`/api/v1/events`: stored webhook events, and replaying one."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tidegate.engine import control
from tidegate.errors import NotFound
from tidegate.store import events as store_events
from tidegate.store import runs as store_runs
from tidegate.web.auth import Approver, Viewer
from tidegate.web.schemas import EventDetail, EventOut, RunsStarted
from tidegate.web.serialize import event_out, raw_body, run_out
from tidegate.web.state import AppState, app_state

router = APIRouter(prefix="/api/v1/events", tags=["events"])
State = Annotated[AppState, Depends(app_state)]


@router.get("", response_model=list[EventOut])
async def list_events(
    caller: Viewer,
    state: State,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    repository: str | None = None,
    before: str | None = None,
) -> list[EventOut]:
    def query() -> list[EventOut]:
        with state.db.session() as session:
            rows = store_events.list_events(
                session, limit=limit, repository=repository, before=before
            )
            return [event_out(row, reveal=caller.role == "admin") for row in rows]

    return await asyncio.to_thread(query)


@router.get("/{event_id}", response_model=EventDetail)
async def get_event(event_id: str, caller: Viewer, state: State) -> EventDetail:
    reveal = caller.role == "admin"

    def query() -> EventDetail:
        with state.db.session() as session:
            row = store_events.get_event(session, event_id)
            if row is None:
                raise NotFound(f"event {event_id} does not exist")
            runs = store_runs.list_runs(session, event_id=event_id, limit=500)
            return EventDetail(
                **event_out(row, reveal=reveal).model_dump(),
                raw=raw_body(row, reveal=reveal),
                runs=[run_out(r, state.settings.base_url) for r in runs],
            )

    return await asyncio.to_thread(query)


@router.post("/{event_id}/replay", status_code=202, response_model=RunsStarted)
async def replay_event(event_id: str, caller: Approver, state: State) -> RunsStarted:
    """Match the stored event against the current workflows again; start what matches."""
    loaded = await asyncio.to_thread(state.workflows.load)
    runs = await control.replay(state.runtime, event_id, loaded.workflows, caller.user)
    return RunsStarted(runs=runs)
