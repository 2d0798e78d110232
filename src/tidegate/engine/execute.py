"""One attempt of one step (`execute_step`), checkpointed by the step's own row.

Nothing here imports DBOS; `durable.py` decides what is a step and in which order.
The decisions are pure (`decisions.py`); here is their I/O: load the run, ask whether
the step runs, run the attempt (its kind, watched for a cancel), record how it ended.

The step's row is the attempt's checkpoint, not a DBOS step: its final record is
committed with the log's last lines, and a job workflow replayed after a crash finds
it there (`decisions.recorded`) and does not run the attempt again; one still
`running` runs once more. That saves DBOS's read and write per step (its floor is
about 6 ms a step here, `bench/dbos_floor.py`), and no crash can fall between the
row's end and a second checkpoint. The records are upserts, safe to write again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from tidegate.engine.capabilities import capabilities
from tidegate.engine.decisions import Ended, before_attempt, ended_by, forgive, recorded
from tidegate.engine.loaded import FINALLY, LoadedRun, load_run_in
from tidegate.engine.logsink import LogSink, event_secrets
from tidegate.engine.runtime import Runtime, get_runtime
from tidegate.engine.stepctx import expr_context, make_step_context
from tidegate.engine.steps import STEP_KINDS
from tidegate.status import Status
from tidegate.store import runs as store_runs
from tidegate.store.logs import append_lines
from tidegate.telemetry import STEP_SECONDS
from tidegate.workflows import Step

CANCEL_POLL_SECONDS = 0.5
# A step still going after this long is shown `running` (RunningRecord).
RUNNING_RECORD_AFTER = 0.05


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
    """Where the step's row is."""

    run_id: str
    job_id: str
    index: int
    name: str
    kind: str

    def write(self, session: Session, status: Status, **fields: Any) -> None:
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


@dataclass(frozen=True)
class Attempt:
    """What `begin` read and decided: the step, and how it ended if it does not run."""

    loaded: LoadedRun
    step: Step
    job_env: dict[str, str]
    timeout: float
    record: StepRecord
    early: Ended | None


def begin(
    runtime: Runtime,
    run_id: str,
    job_id: str,
    index: int,
    attempt: int,
    job_failed: bool,
    run_status: str,
) -> Attempt:
    """Load the run and decide whether the step runs, on one thread hop (blocking); a
    step that does not run is recorded here. The run's row says whether it was cancelled."""
    in_finally = job_id == FINALLY
    with runtime.db.session() as session:
        loaded = load_run_in(session, run_id)
        if in_finally:
            step, job_env = loaded.workflow.finally_[index], {}
        else:
            job = loaded.workflow.jobs[job_id]
            step, job_env = job.steps[index], dict(job.env)
        timeout = step_timeout(loaded, job_id, step.timeout or runtime.settings.step_timeout)
        record = StepRecord(run_id, job_id, index, step_name(step), step.kind)
        status, attempts = store_runs.step_outcome(session, run_id, job_id, index) or (None, 0)
        done = recorded(status, attempts, attempt)
        if done is not None:  # a replay after a crash: this attempt ended, do not run it again
            return Attempt(loaded, step, job_env, timeout, record, Ended(done))
        cancelled = run_id in runtime.cancelled or loaded.run.cancel_requested
        early = before_attempt(
            step,
            expr_context(runtime, loaded, loaded.job_statuses, run_status),
            in_finally=in_finally,
            cancelled=not in_finally and cancelled,
            job_failed=job_failed,
            timeout=timeout,
        )
        if early is not None:
            # From the second attempt on, the row says which attempt ended so (`recorded`).
            later = {"attempts": attempt} if attempt > 1 else {}
            record.write(session, early.status, error=early.error, **later)
    return Attempt(loaded, step, job_env, timeout, record, early)


class RunningRecord:
    """The step's "running" row, written `RUNNING_RECORD_AFTER` seconds into the attempt
    while the command runs; an attempt that ends sooner writes only its final row,
    which says as much (one transaction per step instead of two for quick steps)."""

    def __init__(self, runtime: Runtime, record: StepRecord, attempt: int) -> None:
        self.fields: dict[str, Any] = {"attempts": attempt, "started_at": _now(), "error": ""}
        self._writing = False
        self._task = asyncio.ensure_future(self._later(runtime, record))

    async def _later(self, runtime: Runtime, record: StepRecord) -> None:
        await asyncio.sleep(RUNNING_RECORD_AFTER)
        self._writing = True

        def write() -> None:
            with runtime.db.session() as session:
                record.write(session, Status.RUNNING, **self.fields)

        await asyncio.to_thread(write)

    async def settle(self) -> dict[str, Any]:
        """Before the final row: the fields it must carry too (none once written)."""
        if not self._writing:
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=not self._writing)
        return {} if self._writing else dict(self.fields)


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
    never raises for the user's failure.

    Around the step's own work: a read (`begin`), the "running" record written once
    the command has run a moment (nothing waits for its commit but the end), and the
    end: the log's last lines with the step's final record, one transaction.
    """
    runtime = get_runtime()
    began = await asyncio.to_thread(
        begin, runtime, run_id, job_id, index, attempt, job_failed, run_status
    )
    if began.early is not None:
        return began.early.status.value
    running = RunningRecord(runtime, began.record, attempt)
    loaded, step, in_finally = began.loaded, began.step, job_id == FINALLY
    sink = LogSink(
        runtime.db, run_id, job_id, index, [*runtime.secret_values(), *event_secrets(loaded.event)]
    )
    started = time.monotonic()
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
                job_env=began.job_env,
                step_env=dict(step.env),
                run_status=run_status,
                engine_error=engine_error,
                timeout=began.timeout,
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
    lines = await sink.rest()
    # The final record goes after the running one, never under it.
    fields = {**await running.settle(), "exit_code": notes.get("exit_code")}
    if final.error is not None:
        fields["error"] = final.error

    def end() -> None:
        with runtime.db.session() as session:
            append_lines(session, run_id, job_id, index, lines)
            began.record.write(session, final.status, finished_at=_now(), **fields)

    await asyncio.to_thread(end)
    STEP_SECONDS.labels(step.kind, final.status.value).observe(time.monotonic() - started)
    return final.status.value


@contextlib.asynccontextmanager
async def _watching(
    runtime: Runtime, run_id: str, sink: LogSink, cancel: asyncio.Event, *, watch_db: bool
) -> AsyncIterator[None]:
    """While the attempt runs: flush its log, and set `cancel` when its run is cancelled
    (asked in another process too: the database is polled). What is left in the log
    at the end goes with the step's final record."""

    async def watch() -> None:
        while not cancel.is_set():
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            await sink.flush()
            if watch_db and await asyncio.to_thread(cancel_requested, runtime, run_id):
                cancel.set()

    watcher = asyncio.create_task(watch())
    done = False
    try:
        yield
        done = True
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if not done:  # cut short (a shutdown): what it printed is kept all the same
            await sink.flush()


async def _note(sink: LogSink, ended: Ended) -> None:
    for text in ended.notes:
        await sink.write("system", text)


def _now() -> datetime:
    return datetime.now(UTC)
