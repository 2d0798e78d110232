"""Runs parked at an approval: starting their continuations, and the deadline scan.

A parked run holds no workflow (see `durable.py`): whoever closes one of its
approvals starts `continue_run` for it. The workflow id is fixed by the run and the
approval, so a second start (the sweep after a crash, two processes at once) returns
the first; the continuations of one run share a serial queue partition, so they never
overlap. A process without the engine only closes and settles: the engine's sweep
starts what it left.
"""

from __future__ import annotations

import asyncio

import structlog
from dbos import DBOS, SetEnqueueOptions, SetWorkflowID

from tidegate.engine import approval, durable
from tidegate.engine.launch import SERIAL_QUEUE
from tidegate.engine.runtime import Runtime
from tidegate.security.tracebacks import scrubbed
from tidegate.store import approvals as store_approvals

log = structlog.get_logger(__name__)

# How often the deadline scan looks: one query over the pending approvals.
DEADLINE_LOOK_SECONDS = 1.0


async def start_continuation(runtime: Runtime, run_id: str, approval_id: str) -> None:
    """Continue a parked run after `approval_id` was closed (once: see the module)."""
    if not runtime.settings.run_engine:
        return  # the engine's sweep starts it
    queue = await asyncio.to_thread(DBOS.retrieve_queue, SERIAL_QUEUE)
    if queue is None:
        raise RuntimeError(f"queue {SERIAL_QUEUE} is not registered")
    # Not the run's concurrency key: a parked run has none (`store.waiting.parks`).
    with (
        SetWorkflowID(durable.continuation_id(run_id, approval_id)),
        SetEnqueueOptions(queue_partition_key=f"{run_id}.after"),
    ):
        await queue.enqueue_async(durable.continue_run, run_id, approval_id)


async def start_continuations(runtime: Runtime, closed: list[tuple[str, str]]) -> None:
    for run_id, approval_id in closed:
        try:
            await start_continuation(runtime, run_id, approval_id)
        except Exception as exc:  # the sweep starts it later (`resume_decided`)
            log.error("run.continue_failed", run_id=run_id, where=scrubbed(exc))


async def resume_decided(runtime: Runtime) -> int:
    """Start the continuations of parked runs whose approval was closed but which have
    not ended (a crash between the decision and the start, or a process without the
    engine took the decision). Those started already are left as they are."""

    def decided() -> list[tuple[str, str]]:
        with runtime.db.session() as session:
            return store_approvals.decided_of_live_runs(session)

    found = await asyncio.to_thread(decided)
    await start_continuations(runtime, found)
    return len(found)


async def expire(runtime: Runtime) -> None:
    closed = await asyncio.to_thread(approval.expire_due, runtime)
    await start_continuations(runtime, closed)


async def watch_deadlines(runtime: Runtime) -> None:
    """Forever: time out the approvals of parked runs when their deadline passes (runs
    that keep their workflow waiting watch their own)."""
    while True:
        try:
            await expire(runtime)
        except Exception as exc:  # the next look tries again
            log.error("deadlines.failed", where=scrubbed(exc))
        await asyncio.sleep(min(DEADLINE_LOOK_SECONDS, runtime.wakeups.interval))
