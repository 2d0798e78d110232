"""What request handlers reach: the process's services, hung on `app.state`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from tidegate.config import Settings
from tidegate.engine.launcher import Launcher
from tidegate.engine.runtime import Runtime
from tidegate.events.intake import Intake
from tidegate.store.db import Database
from tidegate.workflows import WorkflowDirectory

T = TypeVar("T")


@dataclass
class AppState:
    settings: Settings
    db: Database
    runtime: Runtime
    workflows: WorkflowDirectory
    metrics: CollectorRegistry
    intake: Intake
    launcher: Launcher  # starts committed runs (the intake's, re-runs, replays)
    engine_running: bool = False


def app_state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.app.state.tidegate
    return state


State = Annotated[AppState, Depends(app_state)]


async def in_session(state: AppState, work: Callable[[Session], T]) -> T:
    """`work` with a database session, in a worker thread: the session's calls block."""

    def call() -> T:
        with state.db.session() as session:
            return work(session)

    return await asyncio.to_thread(call)
