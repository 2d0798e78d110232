"""`/healthz`, `/readyz`, `/metrics`."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from tidegate.web.schemas import Health
from tidegate.web.state import AppState, app_state

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(response: Response, state: Annotated[AppState, Depends(app_state)]) -> Health:
    """The database answers and the engine runs (when this process runs one)."""
    checks: dict[str, str] = {}

    def ping() -> None:
        with state.db.session() as session:
            session.execute(text("SELECT 1"))

    try:
        await asyncio.to_thread(ping)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"error: {type(exc).__name__}"
    if state.settings.run_engine:
        checks["engine"] = "ok" if state.engine_running else "starting"
    ready = all(value == "ok" for value in checks.values())
    if not ready:
        response.status_code = 503
    return Health(status="ok" if ready else "unavailable", checks=checks)


@router.get("/metrics", response_class=Response)
async def metrics(state: Annotated[AppState, Depends(app_state)]) -> Response:
    """Prometheus text: process metrics and Tidegate's, counted from the database."""
    body = await asyncio.to_thread(generate_latest, state.metrics)  # queries: off the loop
    return Response(body, media_type=CONTENT_TYPE_LATEST)
