"""Approvals: opened by a job, decided by people, settled once.

The job's workflow waits in a durable `recv` (no thread held); people's decisions are
counted here, and only the decision that settles the approval wakes the workflow.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tidegate.engine.loaded import load_run
from tidegate.engine.runtime import Runtime, get_runtime
from tidegate.engine.stepctx import expr_context, make_step_context
from tidegate.engine.steps.notify import notify
from tidegate.errors import Conflict, Forbidden, NotFound
from tidegate.store import approvals as store
from tidegate.store import runs as store_runs
from tidegate.store.models import Approval
from tidegate.workflows import compile_template


def open_approval(run_id: str, job_id: str) -> dict[str, Any]:
    """Create the job's approval (once) and mark the run waiting."""
    runtime = get_runtime()
    loaded = load_run(runtime, run_id)
    spec = loaded.workflow.jobs[job_id].approval
    assert spec is not None
    deadline = datetime.now(UTC) + timedelta(seconds=spec.timeout) if spec.timeout else None
    message = ""
    if spec.message:
        ctx = expr_context(runtime, loaded, loaded.job_statuses, "waiting")
        message = compile_template(spec.message).render(ctx)
    with runtime.db.session() as session:
        row = store.create_approval(
            session,
            run_id=run_id,
            job_id=job_id,
            approvers=list(spec.approvers),
            required=spec.required,
            message=message,
            deadline=deadline,
        )
        store_runs.set_job_status(session, run_id, job_id, "waiting")
        store_runs.set_run_status(session, run_id, "waiting")
    timeout = (row.deadline - datetime.now(UTC)).total_seconds() if row.deadline else None
    return {"approval_id": row.id, "timeout": timeout}


def settle(run_id: str, job_id: str, approval_id: str, message: str | None) -> str:
    """The job's status once its approval is settled; `message` None means timed out."""
    runtime = get_runtime()
    with runtime.db.session() as session:
        if message is None:
            store.close_approval(session, approval_id, "timed_out")
        row = store.get_approval(session, approval_id)
        outcome = row.status if row is not None else "rejected"
        status = {"approved": "succeeded", "cancelled": "cancelled"}.get(outcome, "failed")
        store_runs.set_job_status(session, run_id, job_id, status)
        if not store.pending_for_run(session, run_id):
            store_runs.set_run_status(session, run_id, "running")
    return status


async def notify_opened(run_id: str, job_id: str, approval_id: str) -> None:
    """Send the `finally` notifications whose `when:` lists "approval"."""
    runtime = get_runtime()
    loaded = await asyncio.to_thread(load_run, runtime, run_id)
    targets = [
        step.notify
        for step in loaded.workflow.finally_
        if step.notify is not None and "approval" in step.notify.when
    ]
    if not targets:
        return
    ctx = make_step_context(
        runtime,
        loaded,
        job_id=job_id,
        index=0,
        spec=None,
        job_env={},
        step_env={},
        run_status="waiting",
        engine_error=False,
        timeout=None,
        log=_discard,
    )
    for spec in targets:
        title = f"Tidegate: approval needed for {loaded.event.repository}:{loaded.event.tag}"
        body = f"{loaded.event.image}\nApprove or reject: {ctx.run_url}\n(approval {approval_id})"
        await notify(ctx, [ctx.render(url) for url in spec.urls], title, body)


async def _discard(stream: str, text: str) -> None:
    """Approval notices have no step log of their own; their deliveries are recorded."""


@dataclass
class Decision:
    approval: Approval
    settled: str | None  # "approved" / "rejected" when this decision settled it


def allowed(approval: Approval, user: str, groups: dict[str, list[str]]) -> bool:
    for entry in approval.approvers:
        if entry == user:
            return True
        if entry.startswith("group:") and user in groups.get(entry.removeprefix("group:"), []):
            return True
    return False


def decide(runtime: Runtime, approval_id: str, user: str, decision: str, comment: str) -> Decision:
    """Record one person's decision; settle the approval when it is decided.

    Any listed approver can reject; approval needs `required` distinct approvers.
    """
    with runtime.db.session() as session:
        row = store.get_approval(session, approval_id)
        if row is None:
            raise NotFound(f"approval {approval_id} does not exist")
        if not allowed(row, user, runtime.settings.groups):
            raise Forbidden(f"{user} is not an approver of {approval_id}")
        if row.status != "pending":
            raise Conflict(f"approval {approval_id} is already {row.status}")
        store.record_decision(session, row, user, decision, comment)
        settled = None
        if decision == "reject":
            settled = "rejected"
        else:
            approvals = {
                d.user for d in store.decisions(session, row.id) if d.decision == "approve"
            }
            if len(approvals) >= row.required:
                settled = "approved"
        if settled and not store.close_approval(session, row.id, settled):
            settled = None
        session.flush()
        session.refresh(row)
    return Decision(approval=row, settled=settled)


def cancel_pending(runtime: Runtime, run_id: str) -> list[Approval]:
    """Close the run's open approvals as cancelled; the caller wakes their workflows."""
    with runtime.db.session() as session:
        pending = store.pending_for_run(session, run_id)
        for row in pending:
            store.close_approval(session, row.id, "cancelled")
    return pending
