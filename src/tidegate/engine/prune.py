"""The scheduled prune: retention (store/retention.py) under a lease, every
`prune_interval` seconds, in each process that runs the engine.

Every such process sweeps its own workspaces (they are on its disk); the database
part runs in one process at a time, whichever takes the lease, and renews it batch by
batch. The durable (DBOS) records of the runs it removes go with them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from tidegate import logs
from tidegate.config import Settings
from tidegate.engine import workspaces
from tidegate.engine.runtime import Runtime
from tidegate.store import leases
from tidegate.store.models import utcnow
from tidegate.store.pruning import Removed, RunParts
from tidegate.store.retention import Policy, prune

log = logging.getLogger(__name__)

LEASE = "prune"
# Renewed after every batch (each well under a second): a holder that died frees it soon.
LEASE_TTL = timedelta(minutes=5)
FIRST_DELAY = 60.0  # after start: recovery and the first webhooks come first

Forget = Callable[[dict[str, RunParts]], None]


def policy_of(settings: Settings) -> Policy:
    return Policy(
        run_days=settings.retention_days,
        runs_per_workflow=settings.retention_runs_per_workflow,
        audit_days=settings.retention_audit_days,
        event_days=settings.retention_events_days,
    )


def holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def durable_ids(gone: dict[str, RunParts]) -> list[str]:
    """The DBOS workflows of runs: the run's, its jobs' and its continuations after
    approvals, named as durable.py names them."""
    from tidegate.engine import durable

    ids = []
    for run_id, parts in gone.items():
        ids.append(run_id)
        ids.extend(durable.job_workflow_id(run_id, job_id) for job_id in parts.jobs)
        ids.extend(durable.continuation_id(run_id, a) for a in parts.approvals)
    return ids


def forget_durable(gone: dict[str, RunParts]) -> None:
    """Remove the runs' DBOS workflows through this process's DBOS: one statement per
    table (DBOS's own `delete_children` looks each run's children up one by one)."""
    from dbos import DBOS

    DBOS.delete_workflows(durable_ids(gone))


def prune_once(
    runtime: Runtime,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    forget: Forget = forget_durable,
    stop: threading.Event | None = None,
) -> Removed | None:
    """One prune; None when another process holds the lease (it is pruning)."""
    now = now or utcnow()
    swept = 0 if dry_run else workspaces.sweep(runtime, now)
    me = holder()
    db = runtime.db
    if not dry_run and not leases.acquire(db, LEASE, me, LEASE_TTL, now):
        log.debug("another process is pruning: %s", leases.holder_of(db, LEASE, now))
        return None

    def progress(gone: dict[str, RunParts]) -> bool:
        forget(gone)
        held = leases.renew(db, LEASE, me, LEASE_TTL, utcnow())
        return held and not (stop is not None and stop.is_set())

    try:
        removed = prune(db, policy_of(runtime.settings), now, dry_run=dry_run, progress=progress)
    finally:
        if not dry_run:
            leases.release(db, LEASE, me, utcnow())
    removed.workspaces = swept
    if removed.total() and not dry_run:
        logs.note("prune", describe(removed), **removed.counts(), seconds=round(removed.seconds, 2))
    return removed


def describe(removed: Removed, verb: str = "pruned") -> str:
    line = (
        f"{verb} {removed.runs} runs, {removed.log_lines} log lines, {removed.steps} steps, "
        f"{removed.deliveries} deliveries, {removed.events} events, "
        f"{removed.audit_entries} audit entries, {removed.web_sessions} web sessions, "
        f"{removed.workspaces} workspaces"
    )
    if removed.kept_for_audit:
        line += f"; {removed.kept_for_audit} runs kept for their promotions and approvals"
    if verb != "pruned":
        return line
    return (
        line + f" in {removed.seconds:.1f}s (longest write {removed.longest_write * 1000:.0f} ms)"
    )


async def prune_forever(runtime: Runtime) -> None:
    """Forever: prune every `prune_interval` seconds (spread a little between processes)."""
    interval = runtime.settings.prune_interval
    if interval <= 0:
        return
    # Set when the server stops: the prune's thread ends after its batch, rather than
    # holding the shutdown for the rest of a long prune.
    stop = threading.Event()
    try:
        await asyncio.sleep(min(FIRST_DELAY, interval))
        while True:
            try:
                await asyncio.to_thread(prune_once, runtime, stop=stop)
            except Exception:  # the next round tries again
                log.exception("the prune failed")
            await asyncio.sleep(interval * random.uniform(0.9, 1.1))
    finally:
        stop.set()


def schedule(runtime: Runtime, *, until: asyncio.Future[None]) -> asyncio.Task[None]:
    """Prune on schedule until `until` (a task of the server's lifespan) ends."""
    task = asyncio.create_task(prune_forever(runtime))
    until.add_done_callback(lambda _done: task.cancel())
    return task
