"""Why a run is not moving: the run holding its concurrency key, or its approval.

Runs sharing a `concurrency` key run one at a time (a DBOS queue partition per key);
the others stay `queued`. Which run holds a key is read from the runs table, so any
process can say it, the HTTP-only ones included.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tidegate.store import approvals as store_approvals
from tidegate.store import runs as store_runs
from tidegate.store.models import Approval, Run


@dataclass(frozen=True)
class Waiting:
    """What a queued or waiting run waits for."""

    reason: str  # "concurrency", "approval" or "start"
    message: str  # for people: "concurrency key K is held by run R (waiting for approval A)"
    # True when only a person's decision moves it on (an approval, its own or the holder's).
    needs_decision: bool
    run_id: str | None = None  # the run holding the concurrency key
    approval_id: str | None = None  # the pending approval it ends at
    concurrency_key: str | None = None  # as written in the workflow, rendered


def parks(run: Run) -> bool:
    """Whether the run, once every job still going waits for a person, ends its durable
    workflow (parked: no coroutine, no recovery work) and is continued by the decision.

    A run with a concurrency key keeps its workflow waiting instead: that workflow is
    what holds the key's queue partition, so the runs behind it stay queued.
    """
    return run.concurrency_key is None


def shown_key(run: Run) -> str:
    """The concurrency key without the workflow name the planner put before it."""
    key = run.concurrency_key or ""
    return key.removeprefix(f"{run.workflow_name}:")


def waiting_for(session: Session, run: Run) -> Waiting | None:
    """What `run` waits for; None when it is running or has ended."""
    if run.status == "waiting":
        pending = store_approvals.pending_for_run(session, run.id)
        if not pending:
            return None  # decided a moment ago: the run is about to go on
        return Waiting(
            reason="approval",
            message="waiting for " + "; ".join(_approval_text(a) for a in pending),
            needs_decision=True,
            approval_id=pending[0].id,
        )
    if run.status != "queued":
        return None
    if run.concurrency_key:
        found = _behind(session, run)
        if found is not None:
            return found
    return Waiting(
        reason="start",
        message="waiting for the engine to start it (when fewer than its max_running_runs run)",
        needs_decision=False,
    )


def _behind(session: Session, run: Run) -> Waiting | None:
    holder = store_runs.concurrency_holder(session, run)  # the run page's answer too
    if holder is None:
        return None
    key = shown_key(run)
    if holder.status == "queued":
        return Waiting(
            reason="concurrency",
            message=f"concurrency key {key}: behind run {holder.id}, which is about to start",
            needs_decision=False,
            run_id=holder.id,
            concurrency_key=key,
        )
    approval: Approval | None = None
    if holder.status == "waiting":
        approval = next(iter(store_approvals.pending_for_run(session, holder.id)), None)
    state = f"waiting for approval {approval.id}" if approval else holder.status
    ahead = session.scalar(
        select(func.count())
        .select_from(Run)
        .where(
            Run.concurrency_key == run.concurrency_key,
            Run.status == "queued",
            Run.id < run.id,
        )
    )
    queue = f"; {ahead} more queued before it" if ahead else ""
    return Waiting(
        reason="concurrency",
        message=f"concurrency key {key} is held by run {holder.id} ({state}){queue}",
        needs_decision=approval is not None,
        run_id=holder.id,
        approval_id=approval.id if approval else None,
        concurrency_key=key,
    )


def _approval_text(approval: Approval) -> str:
    people = ", ".join(approval.approvers) or "nobody"
    needed = f"{approval.required} of " if approval.required > 1 else ""
    return f"approval {approval.id} (job {approval.job_id}) from {needed}{people}"
