"""The units of work the durable workflows checkpoint: each function here is one step.

Nothing here imports DBOS; `durable.py` decides what is a step and in which order.
Every function is safe to run again after a crash: state changes are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from tidegate.engine.loaded import FINALLY, LoadedRun, load_run_async
from tidegate.engine.logsink import LogSink, event_secrets
from tidegate.engine.runtime import get_runtime
from tidegate.engine.stepctx import expr_context, make_step_context
from tidegate.engine.steps import STEP_KINDS
from tidegate.errors import ExpressionError, StepFailed
from tidegate.store import runs as store_runs
from tidegate.telemetry import STEP_SECONDS
from tidegate.workflows import Step, compile_condition

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
    if step.name:
        return step.name
    if step.run is not None:
        first = step.run.strip().splitlines()[0] if step.run.strip() else ""
        return first[:80] or "run"
    return step.kind


def job_status_from_steps(statuses: list[str]) -> str:
    """A job's status from its steps' (continue_on_error already folded in)."""
    for bad in ("cancelled", "timed_out", "failed"):
        if bad in statuses:
            return bad
    return "succeeded"


async def execute_step(
    run_id: str,
    job_id: str,
    index: int,
    attempt: int,
    job_failed: bool,
    run_status: str,
    engine_error: bool,
) -> str:
    """One attempt of one step. Returns its status; never raises for the user's failure."""
    runtime = get_runtime()
    loaded = await load_run_async(runtime, run_id)
    workflow = loaded.workflow
    if job_id == FINALLY:
        step, job_env = workflow.finally_[index], {}
    else:
        job = workflow.jobs[job_id]
        step, job_env = job.steps[index], dict(job.env)
    timeout = step_timeout(loaded, job_id, step.timeout or runtime.settings.step_timeout)
    name = step_name(step)
    ctx = expr_context(runtime, loaded, loaded.job_statuses, run_status)
    sink = LogSink(
        runtime.db, run_id, job_id, index, [*runtime.secret_values(), *event_secrets(loaded.event)]
    )

    def record(status: str, **fields: Any) -> None:
        with runtime.db.session() as session:
            store_runs.upsert_step(
                session, run_id, job_id, index, name=name, kind=step.kind, status=status, **fields
            )

    def cancelled() -> bool:
        if run_id in runtime.cancelled:
            return True
        with runtime.db.session() as session:
            return store_runs.cancel_requested(session, run_id)

    if job_id != FINALLY and await asyncio.to_thread(cancelled):
        await asyncio.to_thread(record, "cancelled")
        return "cancelled"
    try:
        if step.if_:
            run_it = compile_condition(step.if_).evaluate(
                {**ctx, "job": {"status": "failed" if job_failed else "running"}}
            )  # `job.status` is the one context that changes within a job
        else:
            run_it = job_id == FINALLY or not job_failed
    except ExpressionError as exc:
        await asyncio.to_thread(record, "failed", error=f"if: {exc}")
        return "failed"
    if not run_it:
        await asyncio.to_thread(record, "skipped")
        return "skipped"
    if timeout <= 0:
        await asyncio.to_thread(record, "timed_out", error="the job's or run's timeout passed")
        return "timed_out"

    await asyncio.to_thread(
        record, "running", attempts=attempt, started_at=datetime.now(UTC), error=""
    )
    began = time.monotonic()

    cancel = asyncio.Event()

    async def watch() -> None:
        # Cancellation may come from another process: poll the database as well.
        while not cancel.is_set():
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            await sink.flush()
            if job_id != FINALLY and await asyncio.to_thread(cancelled):
                cancel.set()

    watcher = asyncio.create_task(watch())
    status, error = "succeeded", ""
    notes: dict[str, Any] = {}
    try:
        step_ctx = make_step_context(
            runtime,
            loaded,
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
        notes = step_ctx.notes
        if attempt > 1:
            await step_ctx.info(f"attempt {attempt}")
        kind = STEP_KINDS.get(step.kind)
        if kind is None:
            raise StepFailed(f"{step.kind} steps are not available in this version of Tidegate")
        await kind.execute(step_ctx)
    except StepFailed as exc:
        status, error = exc.status, exc.message
        await sink.write("system", f"step {status}: {exc.message}")
    except ExpressionError as exc:
        status, error = "failed", str(exc)
        await sink.write("system", f"step failed: {exc}")
    except Exception as exc:  # our failure, not the user's: keep the trace for operators
        status, error = "failed", f"engine error: {exc!r}"
        await sink.write("system", f"engine error: {exc!r}")
        for line in traceback.format_exc().splitlines():
            await sink.write("system", line)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await sink.flush()
    if status == "failed" and step.continue_on_error:
        await sink.write("system", "continue_on_error: the job goes on")
        await sink.flush()
        status = "succeeded"
        error = f"failed (continue_on_error): {error}"
    await asyncio.to_thread(
        record,
        status,
        error=error,
        exit_code=notes.get("exit_code"),
        finished_at=datetime.now(UTC),
    )
    STEP_SECONDS.labels(step.kind, status).observe(time.monotonic() - began)
    return status
