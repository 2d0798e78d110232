"""The runs list (`/` and `/runs`): newest first, filtered, paged like the API.

The table's body is its own partial (`/runs/rows`): while a row is queued, running or
waiting, htmx re-reads it every few seconds; once none is, the partial comes back
without its polling attributes and the polling stops. Without JavaScript the page is
whole as served.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, load_only
from starlette.responses import Response

from tidegate.events.sources import SOURCES
from tidegate.store import runs as store_runs
from tidegate.store.models import Event, Run
from tidegate.web.state import AppState, State
from tidegate.web.ui import pagefmt
from tidegate.web.ui.access import Page
from tidegate.web.ui.formats import duration, is_live
from tidegate.web.ui.templating import page, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
STATUSES = ("queued", "running", "waiting", "succeeded", "failed", "cancelled", "timed_out")
Field = Annotated[str, Query(max_length=255)]


@dataclass(frozen=True)
class Filters:
    workflow: str = ""
    status: str = ""
    repository: str = ""
    tag: str = ""
    source: str = ""

    def query(self, before: str = "") -> str:
        """The query string of these filters (and a page), empty fields left out."""
        fields = {**asdict(self), "before": before}
        return urlencode({key: value for key, value in fields.items() if value})

    @property
    def any(self) -> bool:
        return any(asdict(self).values())


@dataclass(frozen=True)
class RunRow:
    id: str
    image: str  # repository:tag
    registry: str
    digest: str
    short_digest: str
    workflow: str
    status: str
    trigger: str
    started: str  # when it started, or was queued
    started_iso: str
    queued: bool
    duration: str


def _row(run: Run, event: Event | None, now: datetime) -> RunRow:
    repository = event.repository if event else run.image
    tag = event.tag if event else ""
    digest = run.digest or (event.digest if event else "")
    moment = run.started_at or run.created_at
    return RunRow(
        id=run.id,
        image=f"{repository}:{tag}" if tag else repository,
        registry=event.registry_host if event else "",
        digest=digest,
        short_digest=pagefmt.short_digest(digest),
        workflow=run.workflow_name,
        status=run.status,
        trigger=run.trigger,
        started=pagefmt.when(moment),
        started_iso=pagefmt.iso(moment),
        queued=run.started_at is None,
        duration=duration(run.started_at, run.finished_at, now),
    )


def _events(session: Session, ids: set[str]) -> dict[str, Event]:
    """The page's events in one query, without their stored bodies."""
    if not ids:
        return {}
    columns = load_only(
        Event.id, Event.registry_host, Event.repository, Event.tag, Event.digest, Event.source
    )
    rows = session.scalars(select(Event).options(columns).where(Event.id.in_(ids)))
    return {row.id: row for row in rows}


def read_rows(state: AppState, filters: Filters, before: str) -> tuple[list[RunRow], str]:
    """A page of rows, and the `before` of the next page ("" on the last)."""
    with state.db.session() as session:
        runs = store_runs.list_runs(
            session,
            limit=PAGE_SIZE + 1,
            status=filters.status or None,
            workflow=filters.workflow or None,
            repository=filters.repository or None,
            tag=filters.tag or None,
            source=filters.source or None,
            before=before or None,
        )
        events = _events(session, {run.event_id for run in runs[:PAGE_SIZE]})
    now = datetime.now(UTC)
    rows = [_row(run, events.get(run.event_id), now) for run in runs[:PAGE_SIZE]]
    return rows, rows[-1].id if len(runs) > PAGE_SIZE else ""


def _filters(
    workflow: Field = "",
    status: Field = "",
    repository: Field = "",
    tag: Field = "",
    source: Field = "",
) -> Filters:
    """The filters of the query string; an unknown status or source filters on nothing."""
    return Filters(
        workflow=workflow.strip(),
        status=status if status in STATUSES else "",
        repository=repository.strip(),
        tag=tag.strip(),
        source=source if source in SOURCES else "",
    )


RunFilters = Annotated[Filters, Depends(_filters)]


def _rows_context(rows: list[RunRow], filters: Filters, before: str) -> dict[str, Any]:
    return {
        "rows": rows,
        "filters": filters,
        "rows_query": filters.query(before),
        "polling": any(is_live(row.status) for row in rows),
    }


@router.get("/")
@router.get("/runs")
async def runs_page(
    request: Request, signed: Page, state: State, filters: RunFilters, before: Field = ""
) -> Response:
    rows, next_before = await asyncio.to_thread(read_rows, state, filters, before)
    names = sorted((await asyncio.to_thread(state.workflows.load)).workflows)
    return await render(
        request,
        "runs.html",
        signed,
        section="runs",
        statuses=STATUSES,
        sources=sorted(SOURCES),
        workflow_names=names,
        before=before,
        next_query=filters.query(next_before) if next_before else "",
        first_query=filters.query(),
        **_rows_context(rows, filters, before),
    )


@router.get("/runs/rows")
async def runs_rows(
    request: Request, signed: Page, state: State, filters: RunFilters, before: Field = ""
) -> Response:
    """The table's body alone, for htmx to swap in."""
    rows, _next = await asyncio.to_thread(read_rows, state, filters, before)
    return page(request, "_run_rows.html", signed, **_rows_context(rows, filters, before))
