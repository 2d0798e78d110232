"""What request handlers reach: the process's services, hung on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from starlette.requests import HTTPConnection

from tidegate.config import Settings
from tidegate.engine.runtime import Runtime
from tidegate.events.intake import Intake
from tidegate.store.db import Database
from tidegate.workflows import WorkflowDirectory


@dataclass
class AppState:
    settings: Settings
    db: Database
    runtime: Runtime
    workflows: WorkflowDirectory
    metrics: CollectorRegistry
    intake: Intake
    engine_running: bool = False


def app_state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.app.state.tidegate
    return state
