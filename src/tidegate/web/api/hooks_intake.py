"""`POST /hooks/{source}/{token}` and the Jenkins plugin's paths."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from tidegate import logs
from tidegate.engine.planner import plan_runs
from tidegate.engine.service import Started, start_runs
from tidegate.errors import PayloadError
from tidegate.events.intake import Received, authenticate, receive
from tidegate.events.model import ImageEvent
from tidegate.store.models import Run
from tidegate.web.errors import error_body
from tidegate.web.schemas import ErrorOut, IntakeOut
from tidegate.web.state import AppState, app_state

router = APIRouter(tags=["webhooks"])

RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut},
    404: {"model": ErrorOut},
    413: {"model": ErrorOut},
}


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing early (by Content-Length) or as soon as it passes the limit."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def intake(
    source: str, token: str, request: Request, background: BackgroundTasks, state: AppState
) -> JSONResponse:
    # Authenticate before reading the body: an unknown token costs us nothing.
    hook_id = await asyncio.to_thread(authenticate, state.db, source, token)
    limit = state.settings.max_body_bytes
    try:
        body = await read_body(request, limit)
    except BodyTooLarge:
        logs.note("webhook.refused", f"webhook {source}: refused, larger than {limit} bytes")
        return JSONResponse(
            error_body("payload_too_large", f"the body is larger than {limit} bytes"),
            status_code=413,
        )
    loaded = await asyncio.to_thread(state.workflows.load)

    def planner(session: Session, event: ImageEvent) -> list[Run]:
        return plan_runs(session, event, loaded.workflows)

    try:
        result: Received = await asyncio.to_thread(
            receive, state.db, source, hook_id, body, dict(request.headers), planner
        )
    except PayloadError as exc:  # answered 400 by the error handler; said here for people
        logs.note("webhook.refused", f"webhook {source}: refused: {logs.clean(exc.message)}")
        raise
    note_delivery(source, result)
    if result.to_start and state.engine_running:
        # After the answer: the sender never waits for workflow starts.
        background.add_task(start_runs, [Started(r, key) for r, key in result.to_start])
    out = IntakeOut(
        events=result.events,
        runs=result.runs,
        duplicates=result.duplicates,
        unmatched=result.unmatched,
        ignored=result.ignored,
    )
    return JSONResponse(out.model_dump(), status_code=202)


def note_delivery(source: str, result: Received) -> None:
    """One log line per stored event (never the body, the hook URL or a callback URL)."""
    for event, runs in result.planned:
        shown = event.image.removeprefix("docker.io/")
        by = f" pushed by {event.pusher}" if event.pusher else ""
        started = ", ".join(f"{run_id} ({workflow})" for run_id, workflow in runs)
        logs.note(
            "webhook",
            f"webhook {source}: {logs.clean(shown + by)} → "
            + (f"runs {started}" if runs else "no workflow matches"),
            source=source,
            event_id=event.id,
            image=event.image,
            runs=[run_id for run_id, _ in runs],
        )
    if result.duplicates:
        logs.note(
            "webhook.duplicate",
            f"webhook {source}: a redelivery of {', '.join(result.duplicates)}; nothing new",
            source=source,
            duplicates=result.duplicates,
        )
    if result.ignored and not result.planned:
        logs.note(
            "webhook.ignored",
            f"webhook {source}: nothing to run ({logs.clean('; '.join(result.ignored))})",
            source=source,
        )


@router.post(
    "/hooks/{source}/{token}", status_code=202, response_model=IntakeOut, responses=RESPONSES
)
async def hook(
    source: str,
    token: str,
    request: Request,
    background: BackgroundTasks,
    state: Annotated[AppState, Depends(app_state)],
) -> JSONResponse:
    """Receive a registry webhook: 202 once its events and planned runs are stored."""
    return await intake(source, token, request, background, state)


@router.post(
    "/dockerhub-webhook/{token}/notify",
    status_code=202,
    response_model=IntakeOut,
    responses=RESPONSES,
)
async def jenkins_dockerhub(
    token: str,
    request: Request,
    background: BackgroundTasks,
    state: Annotated[AppState, Depends(app_state)],
) -> JSONResponse:
    """The Jenkins plugin's Docker Hub path: switch by changing the host only."""
    return await intake("dockerhub", token, request, background, state)


@router.post(
    "/dockerregistry-webhook/{token}/notify",
    status_code=202,
    response_model=IntakeOut,
    responses=RESPONSES,
)
async def jenkins_registry(
    token: str,
    request: Request,
    background: BackgroundTasks,
    state: Annotated[AppState, Depends(app_state)],
) -> JSONResponse:
    """The Jenkins plugin's Docker registry path."""
    return await intake("registry", token, request, background, state)
