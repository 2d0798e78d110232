"""Starting and stopping DBOS for this process."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import dbos._dbos as dbos_instance
from dbos import DBOS, DBOSConfig

from tidegate import logs
from tidegate.config import Settings

# Bumped only when the shape of the durable workflows changes incompatibly. DBOS
# recovers only workflows of its own application version; a fixed one lets a new
# Tidegate release finish the runs an older one started. 2: a user's step is
# checkpointed by its own row, not as a DBOS step (execute.py).
ENGINE_VERSION = "tidegate-engine-2"
SERIAL_QUEUE = "tidegate-serial"

T = TypeVar("T")


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _prepare_sqlite(url: str) -> None:
    # DBOS leaves its SQLite file in rollback-journal mode; WAL (persisted in the file)
    # is several times faster for concurrent starts (DESIGN.md, measured facts).
    path = _sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def _dbos_url(settings: Settings) -> str:
    url = settings.system_db_url
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def launch(settings: Settings) -> None:
    """Configure and launch DBOS; recovers this executor's unfinished workflows."""
    # The workflow functions register themselves with DBOS on import.
    from tidegate.engine import durable  # noqa: F401

    url = _dbos_url(settings)
    if url.startswith("sqlite"):
        _prepare_sqlite(url)
    config: DBOSConfig = {
        "name": "tidegate",
        "system_database_url": url,
        "application_version": ENGINE_VERSION,
        "executor_id": settings.executor_id,
        "max_executor_threads": settings.max_threads,
        "log_level": "WARNING",
        "notification_listener_polling_interval_sec": 0.2,
    }
    DBOS(config=config)
    DBOS.launch()
    # One dequeue transaction per interval whatever the load (a few ms of CPU each,
    # holding the GIL): twice a second keeps an idle engine idle, and a run queued
    # behind a concurrency key or an approval's continuation starts within 0.5 s.
    DBOS.register_queue(SERIAL_QUEUE, partition_concurrency=1, polling_interval_sec=0.5)


def engine_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop DBOS runs this process's workflows on: queued and recovered ones,
    and (through `on_engine`) those Tidegate starts. It is DBOS's own thread's loop
    when DBOS was launched outside a running loop, as `serve` does."""
    instance = dbos_instance._dbos_global_instance
    if instance is None:
        return None
    loop = instance._background_event_loop.target_loop()
    return loop if loop is not None and loop.is_running() else None


async def on_engine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine `make()` on the engine's loop and await it from this one.

    A workflow runs as a task on the loop that starts it. Started from a request or
    the launcher, that would be the server's loop, and every answer would wait out each
    chunk of engine work; on a loop of its own the two are interleaved by the GIL's
    time slices. Context variables do not cross: `make` sets what it needs itself.
    """
    loop = engine_loop()
    if loop is None or loop is asyncio.get_running_loop():
        return await make()
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(make(), loop))


async def stop_workflows(timeout: float = 10.0) -> None:
    """Cancel the workflows running on the engine's loop and wait for them to unwind,
    before `shutdown`: one woken after DBOS stopped would reach for its stopped thread
    pool (a traceback per run). A cancelled workflow is left pending, and the next
    start recovers it, as after a crash."""
    await on_engine(lambda: _cancel_workflows(timeout))


async def _cancel_workflows(timeout: float) -> None:
    loop = asyncio.get_running_loop()
    instance = dbos_instance._dbos_global_instance
    tasks = [
        task
        for task in list(getattr(instance, "_workflow_tasks", ()))
        if task.get_loop() is loop and not task.done()
    ]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


def shutdown() -> None:
    # Stopping cancels every waiting run's tasks; DBOS warns once for each (counted by
    # the filter `logs.configure` put on its logger): one line says it instead.
    DBOS.destroy(destroy_registry=False)
    logs.cancelled_tasks.summarise()
