"""One attempt of one step, the unit the job workflow checkpoints (`execute_step`).

Nothing here imports DBOS; `durable.py` decides what is a step and in which order.
The decisions are pure (`decisions.py`); here is their I/O: load the run, ask whether
the step runs, run the attempt (its kind, watched for a cancel), record how it ended.
Safe to run again after a crash: the records are upserts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tidegate.engine.capabilities import capabilities
from tidegate.engine.decisions import Ended, before_attempt, ended_by, forgive
from tidegate.engine.loaded import FINALLY, LoadedRun, load_run_async
from tidegate.engine.logsink import LogSink, event_secrets
from tidegate.engine.runtime import Runtime, get_runtime
from tidegate.engine.stepctx import expr_context, make_step_context
from tidegate.engine.steps import STEP_KINDS
from tidegate.status import Status
from tidegate.store import runs as store_runs
from tidegate.telemetry import STEP_SECONDS
from tidegate.workflows import Step

CANCEL_POLL_SECONDS = 0.5


def step_timeout(loaded: LoadedRun, job_id: str, own: float) -> float:
    """The step's timeout, cut short by what is left of its job's and run's `timeout:`.

    `finally` steps answer to neither: they must run after a timeout too.
    """
    if job_id == FINALLY:
        return own
    now = datetime.now(UTC)
    limits = [own]
    job = loaded.workflow.jobs[job_id]
    started = loaded.job_started.get(job_id)
    if job.timeout and started:
        limits.append(job.timeout - (now - started).total_seconds())
    if loaded.workflow.timeout and loaded.run.started_at:
        limits.append(loaded.workflow.timeout - (now - loaded.run.started_at).total_seconds())
    return min(limits)


def step_name(step: Step) -> str:
    """The step's `name`, else a short form of what it does."""
    return step.name or step.spec.summary() or step.kind


@dataclass(frozen=True)
class StepRecord:
    """The step's row: upserted off the event loop."""

    runtime: Runtime
    run_id: str
    job_id: str
    index: int
    name: str
    kind: str

    async def write(self, status: Status, **fields: Any) -> None:
        def store() -> None:
            with self.runtime.db.session() as session:
                store_runs.upsert_step(
                    session,
                    self.run_id,
                    self.job_id,
                    self.index,
                    name=self.name,
                    kind=self.kind,
                    status=status.value,
                    **fields,
                )

        await asyncio.to_thread(store)


def cancel_requested(runtime: Runtime, run_id: str) -> bool:
    """Asked in this process, or in another (the database); blocking."""
    if run_id in runtime.cancelled:
        return True
    with runtime.db.session() as session:
        return store_runs.cancel_requested(session, run_id)


async def execute_step(
    run_id: str,
    job_id: str,
    index: int,
    attempt: int,
    job_failed: bool,
    run_status: str,
    engine_error: bool,
) -> str:
    """One attempt of one step. Returns its status (as plain text: the checkpoint);
    never raises for the user's failure."""
    runtime = get_runtime()
    loaded = await load_run_async(runtime, run_id)
    in_finally = job_id == FINALLY
    if in_finally:
        step, job_env = loaded.workflow.finally_[index], {}
    else:
        job = loaded.workflow.jobs[job_id]
        step, job_env = job.steps[index], dict(job.env)
    timeout = step_timeout(loaded, job_id, step.timeout or runtime.settings.step_timeout)
    record = StepRecord(runtime, run_id, job_id, index, step_name(step), step.kind)
    early = before_attempt(
        step,
        expr_context(runtime, loaded, loaded.job_statuses, run_status),
        in_finally=in_finally,
        cancelled=not in_finally and await asyncio.to_thread(cancel_requested, runtime, run_id),
        job_failed=job_failed,
        timeout=timeout,
    )
    if early is not None:
        await record.write(early.status, error=early.error)
        return early.status.value

    sink = LogSink(
        runtime.db, run_id, job_id, index, [*runtime.secret_values(), *event_secrets(loaded.event)]
    )
    await record.write(Status.RUNNING, attempts=attempt, started_at=_now(), error="")
    began = time.monotonic()
    cancel = asyncio.Event()
    notes: dict[str, Any] = {}
    async with _watching(runtime, run_id, sink, cancel, watch_db=not in_finally):
        kind = STEP_KINDS[step.kind]
        try:
            ctx = make_step_context(
                runtime,
                loaded,
                caps=kind.grant(capabilities(runtime)),
                job_id=job_id,
                index=index,
                spec=step.spec,
                job_env=job_env,
                step_env=dict(step.env),
                run_status=run_status,
                engine_error=engine_error,
                timeout=timeout,
                log=sink.write,
                cancel=cancel,
            )
            notes = ctx.notes
            if attempt > 1:
                await ctx.info(f"attempt {attempt}")
            await kind.execute(ctx)
        except Exception as exc:
            ended = ended_by(exc)
        else:
            ended = ended_by(None)
        await _note(sink, ended)
    final = forgive(ended, step.continue_on_error)
    if final is not ended:
        await _note(sink, final)
        await sink.flush()
    await record.write(
        final.status, error=final.error, exit_code=notes.get("exit_code"), finished_at=_now()
    )
    STEP_SECONDS.labels(step.kind, final.status.value).observe(time.monotonic() - began)
    return final.status.value


@contextlib.asynccontextmanager
async def _watching(
    runtime: Runtime, run_id: str, sink: LogSink, cancel: asyncio.Event, *, watch_db: bool
) -> AsyncIterator[None]:
    """While the attempt runs: flush its log, and set `cancel` when its run is cancelled
    (asked in another process too: the database is polled). Flushes once more at the end."""

    async def watch() -> None:
        while not cancel.is_set():
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            await sink.flush()
            if watch_db and await asyncio.to_thread(cancel_requested, runtime, run_id):
                cancel.set()

    watcher = asyncio.create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await sink.flush()


async def _note(sink: LogSink, ended: Ended) -> None:
    for text in ended.notes:
        await sink.write("system", text)


def _now() -> datetime:
    return datetime.now(UTC)
