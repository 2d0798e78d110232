"""Wiring: settings → database → engine → HTTP. No logic of its own."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from tidegate import __version__
from tidegate.config import Settings, server_environment
from tidegate.engine import launch as engine_launch
from tidegate.engine import parking, prune
from tidegate.engine.control import sweep
from tidegate.engine.intake_runs import IntakeRuns
from tidegate.engine.launcher import Launcher
from tidegate.engine.polling import build_poller
from tidegate.engine.runtime import Runtime, set_runtime
from tidegate.engine.wakeups import Wakeups
from tidegate.events.intake import Intake
from tidegate.events.sources.gar_oidc import push_tokens
from tidegate.executors import build_executors
from tidegate.registry import CredentialStore
from tidegate.security.allowlist import AllowList
from tidegate.security.datadir import secure_data_dir
from tidegate.status import LIVE
from tidegate.store.db import Database
from tidegate.store.migrate import upgrade
from tidegate.store.runs import runs_with_status
from tidegate.web import errors, ui
from tidegate.web.api import approvals, events, hooks, hooks_intake, ops, runs, workflows
from tidegate.web.api import audit as audit_api  # --- audit trail (sign-in work) ---
from tidegate.web.failsafe import Failsafe
from tidegate.web.gate import ApiGate
from tidegate.web.hookpath import HookPath
from tidegate.web.metrics import metrics_registry
from tidegate.web.state import AppState
from tidegate.web.ui.access import SignInRequired, sign_in_redirect
from tidegate.web.ui.gate import FormGate
from tidegate.web.ui.headers import SecurityHeaders
from tidegate.workflows import WorkflowDirectory
from tidegate.workflows.reloads import note_problems

log = logging.getLogger(__name__)


def build_state(settings: Settings) -> AppState:
    # Owner-only: the database holds raw webhook bodies (callback URLs are secrets).
    secure_data_dir(settings.data_dir, settings.sqlite_files)
    db = Database(settings.db_url)
    runtime = Runtime(
        settings=settings,
        db=db,
        executors=build_executors(settings),
        callback_allow=AllowList(settings.callback_allowed_hosts),
        notify_allow=AllowList(settings.notify_allowed_hosts),
        host_env=server_environment(),
        wakeups=Wakeups(settings.wake_interval),
        credentials=CredentialStore(settings.docker_config, settings.logins()),
    )
    workflows = WorkflowDirectory(settings.workflows, on_change=note_problems)
    launcher = Launcher(max_running=settings.max_running_runs)
    return AppState(
        settings=settings,
        db=db,
        runtime=runtime,
        workflows=workflows,
        metrics=metrics_registry(db),
        intake=Intake(
            db,
            IntakeRuns(workflows, launcher),
            max_body_bytes=settings.max_body_bytes,
            checks={"gar": tokens} if (tokens := push_tokens(settings)) else None,
        ),
        launcher=launcher,
    )


def prepare_database(state: AppState) -> None:
    """Migrate the schema: a fresh database comes up ready, an old one is brought forward."""
    upgrade(state.db.engine)


WORKFLOWS_LOOK_SECONDS = 2.0


async def watch_workflows(state: AppState) -> None:
    """Forever: read the workflows directory again, so a file that stops loading is
    reported when it changes, not at the next webhook (a scan costs a stat per file)."""
    while True:
        try:
            await asyncio.to_thread(state.workflows.load)
        except Exception:  # the next look tries again; the webhook path reports its own
            log.exception("could not read the workflows directory")
        await asyncio.sleep(WORKFLOWS_LOOK_SECONDS)


async def reap_leftovers(state: AppState) -> None:
    """Destroy what a crashed predecessor left, in every executor: every step's process
    or container (its step runs again) and the services of runs that have ended."""

    def in_flight() -> set[str]:
        with state.db.session() as session:
            return {run.id for run in runs_with_status(session, list(LIVE))}

    live = await asyncio.to_thread(in_flight)

    def keep(labels: Mapping[str, str]) -> bool:
        return labels.get("tidegate.kind") == "service" and labels.get("tidegate.run") in live

    for name, executor in state.runtime.executors.items():
        try:
            removed = await executor.reap(keep)
        except Exception:  # an engine that is down now is not a reason to refuse to start
            log.warning("could not remove the leftovers of the %s executor", name, exc_info=True)
            continue
        if removed:
            log.info("%s executor: removed %d leftovers", name, len(removed))


def create_app(settings: Settings) -> FastAPI:
    state = build_state(settings)
    launcher = state.launcher  # starts the runs committed here (engine/launcher.py)
    launcher.busy = state.intake.receiving  # answers first, while webhooks come in

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(prepare_database, state)
        set_runtime(state.runtime)
        watcher = asyncio.create_task(watch_workflows(state))
        sweeper: asyncio.Task[None] | None = None
        launching: asyncio.Task[None] | None = None
        polling: asyncio.Task[None] | None = None
        deadlines: asyncio.Task[None] | None = None
        if settings.run_engine:
            # Orphans of a crashed predecessor die before recovery re-runs their steps.
            await reap_leftovers(state)
            await asyncio.to_thread(engine_launch.launch, settings)
            state.engine_running = True
            # Its first look starts what a predecessor left queued.
            launching = asyncio.create_task(launcher.run(state.runtime))
            sweeper = asyncio.create_task(sweep(state.runtime))
            # `on.image.poll` (poll/poller.py): frees its leases when cancelled.
            poller = build_poller(settings, state.runtime, state.workflows, launcher)
            polling = asyncio.create_task(poller.run())
            # Parked runs hold no workflow, so recovery does not see them: a decision
            # taken while the engine was down (or lost to a crash) continues them here.
            await parking.resume_decided(state.runtime)
            deadlines = asyncio.create_task(parking.watch_deadlines(state.runtime))
            prune.schedule(state.runtime, until=watcher)  # retention (engine/prune.py)
        if getattr(_app.state, "freeze_heap", False):
            # What start-up made (modules, the ORM, DBOS, the workflows) lives as long as
            # the process: out of the collector's sight, a full collection does not walk
            # it again, which held every request in flight for tens of ms (p99 of a
            # burst of webhooks 167 -> 66 ms). Only for a process that serves until it
            # ends (`tidegate serve`): one starting many apps would keep their cycles.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            watcher.cancel()
            for task in (sweeper, launching, deadlines, polling):
                if task is not None:
                    task.cancel()
            if polling is not None:
                await asyncio.gather(polling, return_exceptions=True)
            if launching is not None:  # no start may reach DBOS after its shutdown
                await asyncio.gather(launching, return_exceptions=True)
            if state.engine_running:
                state.engine_running = False
                await engine_launch.stop_workflows()
                await asyncio.to_thread(engine_launch.shutdown)
            for executor in state.runtime.executors.values():
                # Services of runs in flight resume with their runs after a restart.
                await executor.close(keep_services=True)
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
        # --- web UI (pages): /docs is served offline by web/ui/apidocs.py; no ReDoc ---
        docs_url=None,
        redoc_url=None,
        # --- end web UI ---
    )
    app.state.tidegate = state
    errors.install(app)
    app.add_exception_handler(SignInRequired, sign_in_redirect)
    app.add_middleware(
        ApiGate,
        max_body_bytes=settings.max_api_body_bytes,
        max_json_depth=settings.max_api_json_depth,
    )
    app.add_middleware(FormGate, max_body_bytes=settings.max_api_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Failsafe)  # sees what every layer inside raises
    app.add_middleware(HookPath, intake=state.intake)  # outermost: webhooks answered here
    for module in (hooks_intake, events, runs, approvals, workflows, hooks, ops):
        app.include_router(module.router)
    app.include_router(audit_api.router)  # --- audit trail (sign-in work) ---
    for router in ui.ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=ui.STATIC), name="static")
    return app
