"""`/events` and `/events/{id}`: what came in, and why it started the runs it did.

Bodies are shown as the API shows them (`raw_body`): Docker Hub's callback URL, a
secret, whole to admins only. Request headers are not stored with events, so the page
says so rather than showing a part of them.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from tidegate.engine import control
from tidegate.errors import NotFound
from tidegate.events.grammar import REPOSITORY_MAX, text_problem
from tidegate.events.sources import SOURCES
from tidegate.store import events as store_events
from tidegate.store import runs as store_runs
from tidegate.store.models import Event
from tidegate.web.params import Limit
from tidegate.web.schemas import EventOut
from tidegate.web.serialize import event_out, raw_body
from tidegate.web.state import AppState, app_state
from tidegate.web.ui import pagefmt
from tidegate.web.ui.access import Page, checked_form
from tidegate.web.ui.forms import is_id
from tidegate.web.ui.templating import notice, render
from tidegate.web.ui.why import Verdicts, verdicts

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# The width of the columns filtered on: a longer value cannot match anything.
Repository = Annotated[str, Query(max_length=255)]
Source = Annotated[str, Query(max_length=32)]
Before = Annotated[str, Query(max_length=40)]
# Where a notice on these pages leads back to.
_BACK = {"section": "events", "back": "/events", "back_label": "All events"}


def pretty_json(value: Any) -> str:
    """Indented JSON; escaped to ASCII only when the text will not encode as UTF-8."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate from before intake refused them
        text = json.dumps(value, indent=2)
    return text


def image_reference(event: EventOut) -> str:
    """registry/repository:tag@digest, with whichever of tag and digest are known."""
    reference = f"{event.registry}/{event.repository}"
    if event.tag:
        reference += f":{event.tag}"
    if event.digest:
        reference += f"@{event.digest}"
    return reference


def _list(
    state: AppState, reveal: bool, repository: str, source: str, before: str, limit: int
) -> tuple[list[EventOut], str]:
    """A page of events, newest first, and the `before` of the next page ("" for none)."""
    with state.db.session() as session:
        rows = store_events.list_events(
            session,
            limit=limit + 1,
            repository=repository or None,
            source=source or None,
            before=before or None,
        )
    shown = [event_out(row, reveal=reveal) for row in rows[:limit]]
    more = shown[-1].id if len(rows) > limit else ""
    return shown, more


def _filter_problem(repository: str, source: str, before: str) -> str | None:
    """Why a filter cannot be looked up (it would reach the database as it is), or None."""
    if text_problem(repository, REPOSITORY_MAX) is not None:
        return "The repository filter is not a repository name."
    if source and source not in SOURCES:
        return f"The source filter must be one of {', '.join(sorted(SOURCES))}."
    if before and not is_id(before):
        return "The page asked for does not exist: start again from the newest events."
    return None


@router.get("/events")
async def events_page(
    request: Request,
    signed: Page,
    repository: Repository = "",
    source: Source = "",
    before: Before = "",
    limit: Limit = PAGE_SIZE,
) -> Response:
    state = app_state(request)
    problem = _filter_problem(repository, source, before)
    if problem is not None:
        return await notice(request, signed, 422, "Cannot filter events", problem, **_BACK)
    reveal = signed.caller.role == "admin"
    rows, more = await asyncio.to_thread(_list, state, reveal, repository, source, before, limit)
    return await render(
        request,
        "events.html",
        signed,
        section="events",
        rows=rows,
        more=more,
        repository=repository,
        source=source,
        before=before,
        paging={"repository": repository, "source": source, "limit": limit},
        sources=sorted(SOURCES),
        fmt=pagefmt,
    )


@dataclass(frozen=True)
class Detail:
    event: EventOut
    image: str
    hook_id: str | None
    raw: str
    why: Verdicts


def _detail(state: AppState, event_id: str, reveal: bool) -> Detail | None:
    loaded = state.workflows.load()
    with state.db.session() as session:
        row: Event | None = store_events.get_event(session, event_id)
        if row is None:
            return None
        runs = store_runs.list_runs(session, event_id=event_id, limit=500)
        event = store_events.to_image_event(row)
        shown = event_out(row, reveal=reveal)
        return Detail(
            event=shown,
            image=image_reference(shown),
            hook_id=row.hook_id,
            raw=pretty_json(raw_body(row, reveal=reveal)),
            why=verdicts(loaded.workflows, event, runs),
        )


@router.get("/events/{event_id}")
async def event_page(request: Request, signed: Page, event_id: str) -> Response:
    state = app_state(request)
    reveal = signed.caller.role == "admin"
    detail = await asyncio.to_thread(_detail, state, event_id, reveal) if is_id(event_id) else None
    if detail is None:
        message = f"There is no event {event_id}."
        return await notice(request, signed, 404, "No such event", message, **_BACK)
    return await render(
        request,
        "event.html",
        signed,
        section="events",
        d=detail,
        can_replay=signed.caller.ranks("approver"),
        fmt=pagefmt,
    )


@router.post("/events/{event_id}/replay")
async def replay(request: Request, signed: Page, event_id: str) -> Response:
    """Match the event against today's workflows again and start what matches."""
    await checked_form(request, signed, "approver")
    if not is_id(event_id):
        raise NotFound(f"event {event_id} does not exist")
    state = app_state(request)
    loaded = await asyncio.to_thread(state.workflows.load)
    await control.replay(
        state.runtime, event_id, loaded.workflows, signed.caller.user, state.launcher.wake
    )
    return RedirectResponse(f"/events/{event_id}#runs", 303)
