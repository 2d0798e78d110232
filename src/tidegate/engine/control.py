"""What the API and CLI ask of the engine: start, cancel, re-run, replay, decide."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog
from dbos import DBOS, SetEnqueueOptions, SetWorkflowID

from tidegate import logs
from tidegate.engine import approval, durable, parking
from tidegate.engine.launch import SERIAL_QUEUE, on_engine
from tidegate.engine.planner import plan_runs
from tidegate.engine.runtime import Runtime
from tidegate.errors import Conflict, NotFound
from tidegate.security.tracebacks import scrubbed
from tidegate.store import audit
from tidegate.store import events as store_events
from tidegate.store import runs as store_runs
from tidegate.store.models import Run
from tidegate.workflows import LoadedWorkflow

log = structlog.get_logger(__name__)


@dataclass
class Started:
    run_id: str
    concurrency_key: str | None


async def start_run(run_id: str, concurrency_key: str | None, on_end: Callable[[], None]) -> None:
    """Start a run's workflow, on the engine's loop; its id is the run id, so a second
    start is a no-op. `on_end` is called (on the engine's thread) when the workflow this
    call started ends, or at once when it started none here (queued behind its
    concurrency key, or started before)."""
    await on_engine(lambda: _start(run_id, concurrency_key, on_end))


async def _start(run_id: str, concurrency_key: str | None, on_end: Callable[[], None]) -> None:
    with SetWorkflowID(run_id):
        if concurrency_key:
            queue = await asyncio.to_thread(DBOS.retrieve_queue, SERIAL_QUEUE)
            if queue is None:
                raise RuntimeError(f"queue {SERIAL_QUEUE} is not registered")
            with SetEnqueueOptions(queue_partition_key=concurrency_key):
                await queue.enqueue_async(durable.run_workflow, run_id)
            on_end()
            return
        handle = await DBOS.start_workflow_async(durable.run_workflow, run_id)
    task = getattr(handle, "task", None)  # only when this call started it, here
    if isinstance(task, asyncio.Future) and not task.done():
        task.add_done_callback(lambda _: on_end())
    else:
        on_end()


async def sweep(runtime: Runtime) -> None:
    """Forever: start the continuations of parked runs whose decision was taken where
    no engine runs, or lost to a crash. (Runs left queued are the launcher's: its poll
    finds them, and starts them at its pace, not all at once.)"""
    while True:
        await asyncio.sleep(runtime.wakeups.interval)
        try:
            await parking.resume_decided(runtime)
        except Exception as exc:  # the next round tries again; say where in the log
            log.error("sweep.failed", where=scrubbed(exc))


def cancel_run(runtime: Runtime, run_id: str, actor: str) -> list[str]:
    """Ask a run to stop: its step is killed, its approvals close; `finally` still runs.
    Returns the approvals whose parked run goes on (to its `finally`) in a continuation."""
    with runtime.db.session() as session:
        run = store_runs.get_run(session, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        if not store_runs.request_cancel(session, run_id):
            raise Conflict(f"run {run_id} has already finished ({run.status})")
        audit.record(session, actor, "run.cancel", run_id)
        name = run.workflow_name
    with runtime.lock:
        runtime.cancelled.add(run_id)
    closed = approval.cancel_pending(runtime, run_id)
    logs.note(
        "run.cancel_requested",
        f"run {run_id} {name}: cancel requested by {logs.clean(actor)}",
        run_id=run_id,
        user=actor,
    )
    return closed


async def cancel(runtime: Runtime, run_id: str, actor: str) -> None:
    closed = await asyncio.to_thread(cancel_run, runtime, run_id, actor)
    await parking.start_continuations(runtime, [(run_id, a) for a in closed])


def _copy_run(runtime: Runtime, run_id: str, actor: str) -> Started:
    with runtime.db.session() as session:
        old = store_runs.get_run(session, run_id)
        if old is None:
            raise NotFound(f"run {run_id} does not exist")
        if old.status not in store_runs.FINAL:
            raise Conflict(f"run {run_id} is still {old.status}")
        run = store_runs.new_run(
            event_id=old.event_id,
            workflow_name=old.workflow_name,
            workflow_file=old.workflow_file,
            workflow_text=old.workflow_text,
            workflow_digest=old.workflow_digest,
            concurrency_key=old.concurrency_key,
            image=old.image,
            trigger="rerun",
            rerun_of=old.id,
        )
        # The same snapshot, the same event, the same image: a re-run tests what the
        # first run tested, even if the tag has moved since.
        run.digest = old.digest
        session.add(run)
        audit.record(session, actor, "run.rerun", old.id, run.id)
    return Started(run.id, run.concurrency_key)


# Hands committed runs to the launcher (engine/launcher.py `Launcher.wake`), which
# starts them within `max_running_runs`; where no engine runs, another process's does.
Wake = Callable[[Iterable[tuple[str, str | None]]], None]


async def rerun(runtime: Runtime, run_id: str, actor: str, wake: Wake) -> str:
    """A new run of the same workflow snapshot for the same event."""
    started = await asyncio.to_thread(_copy_run, runtime, run_id, actor)
    wake([(started.run_id, started.concurrency_key)])
    return started.run_id


def _replan(
    runtime: Runtime, event_id: str, workflows: dict[str, LoadedWorkflow], actor: str
) -> list[Run]:
    with runtime.db.session() as session:
        row = store_events.get_event(session, event_id)
        if row is None:
            raise NotFound(f"event {event_id} does not exist")
        runs = plan_runs(session, store_events.to_image_event(row), workflows, trigger="replay")
        row.run_count += len(runs)
        audit.record(session, actor, "event.replay", event_id, " ".join(r.id for r in runs))
    return runs


async def replay(
    runtime: Runtime,
    event_id: str,
    workflows: dict[str, LoadedWorkflow],
    actor: str,
    wake: Wake,
) -> list[str]:
    """Match a stored event against today's workflows again and start what matches."""
    runs = await asyncio.to_thread(_replan, runtime, event_id, workflows, actor)
    wake([(run.id, run.concurrency_key) for run in runs])
    return [run.id for run in runs]


async def decide(
    runtime: Runtime,
    approval_id: str,
    user: str,
    decision: str,
    comment: str,
    groups: frozenset[str] = frozenset(),
) -> approval.Decision:
    """Decide in this process; a parked run goes on in its continuation, a waiting job
    is rung here or looks again on its own.

    `groups` are the person's groups from their identity provider (OIDC), besides the
    server's `groups` setting.
    """
    decided = await asyncio.to_thread(
        approval.decide, runtime, approval_id, user, decision, comment, groups
    )
    if decided.continues:
        await parking.start_continuations(runtime, [(decided.continues, approval_id)])
    return decided
