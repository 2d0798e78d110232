"""What request handlers reach: the process's services, hung on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from prometheus_client import CollectorRegistry

from tidegate.config import Settings
from tidegate.engine.runtime import Runtime
from tidegate.store.db import Database
from tidegate.workflows import WorkflowDirectory


@dataclass
class AppState:
    settings: Settings
    db: Database
    runtime: Runtime
    workflows: WorkflowDirectory
    metrics: CollectorRegistry
    engine_running: bool = False


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.tidegate
    return state
