"""Wiring: settings → database → engine → HTTP. No logic of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tidegate import __version__
from tidegate.config import Settings, host_environment
from tidegate.engine import launch as engine_launch
from tidegate.engine.runtime import Runtime, set_runtime
from tidegate.engine.service import resume_queued, sweep
from tidegate.engine.wakeups import Wakeups
from tidegate.executors.ledger import GroupLedger
from tidegate.executors.local import LocalExecutor
from tidegate.registry import CredentialStore
from tidegate.security.allowlist import AllowList
from tidegate.store.db import Database
from tidegate.store.migrate import upgrade
from tidegate.web import errors
from tidegate.web.api import approvals, events, hooks, hooks_intake, ops, runs, workflows
from tidegate.web.state import AppState
from tidegate.workflows import WorkflowDirectory


def registry_logins(settings: Settings) -> dict[str, tuple[str, str]]:
    """`registry_logins` ("user:password" per host) as (user, password) pairs."""
    logins = {}
    for host, login in settings.registry_logins.items():
        user, _, password = login.get_secret_value().partition(":")
        logins[host] = (user, password)
    return logins


def build_state(settings: Settings) -> AppState:
    # Owner-only: the database holds raw webhook bodies (callback URLs are secrets).
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    db = Database(settings.db_url)
    runtime = Runtime(
        settings=settings,
        db=db,
        executors={
            "local": LocalExecutor(
                kill_grace=settings.kill_grace,
                ledger=GroupLedger(settings.data_dir / "process-groups"),
            )
        },
        callback_allow=AllowList(settings.callback_allowed_hosts),
        notify_allow=AllowList(settings.notify_allowed_hosts),
        host_env=host_environment(),
        wakeups=Wakeups(settings.wake_interval),
        credentials=CredentialStore(settings.docker_config, registry_logins(settings)),
        registry_allow=AllowList(settings.registry_allowed_hosts),
    )
    return AppState(
        settings=settings, db=db, runtime=runtime, workflows=WorkflowDirectory(settings.workflows)
    )


def prepare_database(state: AppState) -> None:
    """Migrate the schema: a fresh database comes up ready, an old one is brought forward."""
    upgrade(state.db.engine)


def create_app(settings: Settings) -> FastAPI:
    state = build_state(settings)
    local = state.runtime.executors["local"]
    assert isinstance(local, LocalExecutor)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(prepare_database, state)
        set_runtime(state.runtime)
        sweeper: asyncio.Task[None] | None = None
        if settings.run_engine:
            # Orphans of a crashed predecessor die before recovery re-runs their steps.
            local.reap()
            await asyncio.to_thread(engine_launch.launch, settings)
            state.engine_running = True
            await resume_queued(state.runtime)
            sweeper = asyncio.create_task(sweep(state.runtime))
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
            if state.engine_running:
                state.engine_running = False
                await asyncio.to_thread(engine_launch.shutdown)
            for executor in state.runtime.executors.values():
                await executor.close()
            set_runtime(None)
            state.db.dispose()

    app = FastAPI(
        title="Tidegate",
        version=__version__,
        description=(
            "Registry webhook → durable, digest-pinned workflow → promotion, callback, "
            "notification."
        ),
        lifespan=lifespan,
    )
    app.state.tidegate = state
    errors.install(app)
    for module in (hooks_intake, events, runs, approvals, workflows, hooks, ops):
        app.include_router(module.router)
    return app
