"""Approvals: opened by a job, decided by people, settled once.

A run without a concurrency key parks: its approval job ends its workflow while the
approval is pending (the job and run stay `waiting` in the database), and whoever
closes the approval (a decision, a cancel, the deadline scan) settles the job and
starts the run's continuation (`parking.py`). A run with a concurrency key keeps
its job waiting in a checkpointed step that re-reads the approval whenever it is rung
and every wake interval. People's decisions are counted under a lock on the approval's
row, so two approvers deciding at once settle it exactly once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from tidegate import logs
from tidegate.engine.capabilities import capabilities
from tidegate.engine.checkpoints import Checkpoint, OpenedApproval, RunPlan
from tidegate.engine.loaded import load_run, load_run_async
from tidegate.engine.runtime import Runtime, get_runtime
from tidegate.engine.stepctx import expr_context, make_step_context
from tidegate.engine.steps.notify import NotifyStep, notify
from tidegate.engine.wakeups import approval_key, run_key
from tidegate.errors import Conflict, Forbidden, NotFound
from tidegate.status import RUN_FINAL, ApprovalStatus, Status, after_approval
from tidegate.store import approvals as store
from tidegate.store import audit
from tidegate.store import runs as store_runs
from tidegate.store.models import Approval
from tidegate.store.waiting import parks
from tidegate.telemetry import APPROVAL_SECONDS
from tidegate.workflows import NotifySpec, compile_template

PARKED = "parked"  # `wait_for_decision`: the job ends its workflow; the decision goes on


def open_approval(run_id: str, job_id: str) -> Checkpoint:
    """Create the job's approval (once) and mark the run waiting."""
    runtime = get_runtime()
    loaded = load_run(runtime, run_id)
    spec = loaded.workflow.jobs[job_id].approval
    assert spec is not None
    deadline = datetime.now(UTC) + timedelta(seconds=spec.timeout) if spec.timeout else None
    message = ""
    if spec.message:
        ctx = expr_context(runtime, loaded, loaded.job_statuses, Status.WAITING)
        message = compile_template(spec.message).render(ctx)
    with runtime.db.session() as session:
        # A cancel that landed just before: the approval is born closed, not left open.
        cancelled = store_runs.cancel_requested(session, run_id)
        row = store.create_approval(
            session,
            run_id=run_id,
            job_id=job_id,
            approvers=list(spec.approvers),
            required=spec.required,
            message=message,
            deadline=deadline,
            status=ApprovalStatus.CANCELLED if cancelled else ApprovalStatus.PENDING,
        )
        if row.status == ApprovalStatus.PENDING:
            store_runs.set_job_status(session, run_id, job_id, Status.WAITING)
            store_runs.set_run_status(session, run_id, Status.WAITING)
    if row.status == ApprovalStatus.PENDING:
        runtime.wakeups.ring(run_key(run_id))  # every job waiting: the run can park
        name = loaded.run.workflow_name
        logs.note(
            "run.waiting",
            f"run {run_id} {name} is waiting for approval {row.id} (job {job_id}) from "
            f"{', '.join(spec.approvers)}",
            run_id=run_id,
            workflow=name,
            approval_id=row.id,
            job=job_id,
        )
    return OpenedApproval(row.id).checkpoint()


async def notify_opened(run_id: str, job_id: str, approval_id: str) -> None:
    """Send the `finally` notifications whose `when:` lists "approval"."""
    runtime = get_runtime()
    loaded = await load_run_async(runtime, run_id)
    targets = [
        step.spec
        for step in loaded.workflow.finally_
        if isinstance(step.spec, NotifySpec) and "approval" in step.spec.when
    ]
    if not targets or not await asyncio.to_thread(_pending, runtime, approval_id):
        return
    ctx = make_step_context(
        runtime,
        loaded,
        caps=NotifyStep().grant(capabilities(runtime)),
        job_id=job_id,
        index=0,
        spec=None,
        job_env={},
        step_env={},
        run_status=Status.WAITING,
        engine_error=False,
        timeout=None,
        log=_discard,
    )
    for spec in targets:
        title = f"Tidegate: approval needed for {loaded.event.repository}:{loaded.event.tag}"
        # Straight to the approval panel of the run page (after sign-in, back to it).
        link = f"{ctx.run_url}#approval"
        body = f"{loaded.event.image}\nApprove or reject: {link}\n(approval {approval_id})"
        await notify(ctx, [ctx.render(url) for url in spec.urls], title, body)


async def _discard(stream: str, text: str) -> None:
    """Approval notices have no step log of their own; their deliveries are recorded."""


def _pending(runtime: Runtime, approval_id: str) -> bool:
    with runtime.db.session() as session:
        row = store.get_approval(session, approval_id)
        return row is not None and row.status == ApprovalStatus.PENDING


def _deadline(runtime: Runtime, approval_id: str) -> float | None:
    with runtime.db.session() as session:
        row = store.get_approval(session, approval_id)
        return row.deadline.timestamp() if row and row.deadline else None


def _expire(session: Session, row: Approval) -> None:
    if row.status == ApprovalStatus.PENDING and row.deadline and row.deadline <= datetime.now(UTC):
        store.close_approval(session, row.id, ApprovalStatus.TIMED_OUT)
        session.refresh(row)


def _parks_pending(runtime: Runtime, approval_id: str) -> bool:
    with runtime.db.session() as session:
        row = store.get_approval(session, approval_id)
        if row is None or row.status != ApprovalStatus.PENDING:
            return False
        run = store_runs.get_run(session, row.run_id)
        return run is not None and parks(run)


async def wait_for_decision(approval_id: str) -> str:
    """Block until the approval is settled (or its deadline passes: timed out); PARKED
    at once when it is pending and its run parks (the decision continues the run)."""
    runtime = get_runtime()
    if await asyncio.to_thread(_parks_pending, runtime, approval_id):
        return PARKED

    def settled() -> str | None:
        with runtime.db.session() as session:
            row = store.get_approval(session, approval_id)
            if row is None:
                return ApprovalStatus.REJECTED.value
            _expire(session, row)
            return None if row.status == ApprovalStatus.PENDING else row.status

    deadline = await asyncio.to_thread(_deadline, runtime, approval_id)
    # A little past the deadline, so the last look finds it passed.
    result = await runtime.wakeups.until(
        approval_key(approval_id), settled, None if deadline is None else deadline + 0.01
    )
    return result or await asyncio.to_thread(settled) or ApprovalStatus.TIMED_OUT.value


def settle(run_id: str, job_id: str, approval_id: str) -> str:
    """The job's status from its settled approval; the run leaves `waiting`."""
    return settle_job(get_runtime(), run_id, job_id, approval_id)


def settle_job(runtime: Runtime, run_id: str, job_id: str, approval_id: str) -> str:
    """End the job as its settled approval says, once: whoever comes second (the job's
    own workflow, a continuation after a crash) finds the job ended and its status."""
    with runtime.db.session() as session:
        row = store.get_approval(session, approval_id)
        outcome = row.status if row is not None else ApprovalStatus.REJECTED
        status = after_approval(outcome)
        if not store.end_job(session, run_id, job_id, status.value):
            ended = store.job_status(session, run_id, job_id)
            return ended or status.value
        if row is not None and row.decided_at is not None:
            waited = (row.decided_at - row.created_at).total_seconds()
            APPROVAL_SECONDS.labels(outcome).observe(max(waited, 0.0))
        if status == Status.FAILED:
            # No step says why the run failed: the run's error does.
            why = outcome_text(session, row) if row is not None else "rejected"
            store_runs.note_error(session, run_id, f"job {job_id}: approval {approval_id} {why}")
            if outcome == ApprovalStatus.TIMED_OUT:
                logs.note(
                    "approval.timed_out",
                    f"approval {approval_id} timed out (run {run_id}, job {job_id})",
                    approval_id=approval_id,
                    run_id=run_id,
                )
        if not store.pending_for_run(session, run_id):
            store_runs.set_run_status(session, run_id, Status.RUNNING)
    runtime.wakeups.ring(run_key(run_id))
    return status.value


def settle_parked(runtime: Runtime, approval_id: str) -> str | None:
    """Settle the job of a closed approval whose run parks; the run id, which needs
    its continuation (None when the run keeps its own workflow waiting)."""
    with runtime.db.session() as session:
        row = store.get_approval(session, approval_id)
        run = store_runs.get_run(session, row.run_id) if row is not None else None
        if row is None or run is None or not parks(run):
            return None
        if row.status == ApprovalStatus.PENDING:
            return None
        run_id, job_id = row.run_id, row.job_id
    settle_job(runtime, run_id, job_id, approval_id)
    return run_id


def resume_run(run_id: str, approval_id: str) -> Checkpoint | None:
    """A continuation's first step: the approval's job settled (again: idempotent, for a
    crash between decision and settling), and the run's plan; None when it has ended."""
    runtime = get_runtime()
    settle_parked(runtime, approval_id)
    with runtime.db.session() as session:
        run = store_runs.get_run(session, run_id)
        if run is None or run.status in RUN_FINAL:
            return None
    loaded = load_run(runtime, run_id)
    jobs = {job_id: list(job.needs) for job_id, job in loaded.workflow.jobs.items()}
    return RunPlan(jobs, [step.retries for step in loaded.workflow.finally_]).checkpoint()


def outcome_text(session: Session, row: Approval) -> str:
    """How a settled approval ended, for people: `rejected by bob: "not now"`,
    `approved by alice, carol`, `timed out`, `cancelled`."""
    wanted = {"rejected": "reject", "approved": "approve"}.get(row.status)
    if wanted is None:
        return row.status.replace("_", " ")
    decided = [d for d in store.decisions(session, row.id) if d.decision == wanted]
    if not decided:
        return row.status
    said = f': "{decided[-1].comment}"' if wanted == "reject" and decided[-1].comment else ""
    return f"{row.status} by {', '.join(d.user for d in decided)}{said}"


DECIDED = {"approve": "approved", "reject": "rejected"}


@dataclass
class Decision:
    approval: Approval
    settled: str | None  # "approved" / "rejected" when this decision settled it
    continues: str | None = None  # the parked run this decision continues


def allowed(
    approval: Approval,
    user: str,
    groups: dict[str, list[str]],
    member_of: frozenset[str] = frozenset(),
) -> bool:
    """Whether `user` is one of the approval's approvers: by name, or through `group:NAME`
    (the server's `groups` setting, or `member_of`: the groups their identity provider
    gave them)."""
    for entry in approval.approvers:
        if entry == user:
            return True
        group = entry.removeprefix("group:")
        if entry.startswith("group:") and (user in groups.get(group, []) or group in member_of):
            return True
    return False


def decide(
    runtime: Runtime,
    approval_id: str,
    user: str,
    decision: str,
    comment: str,
    member_of: frozenset[str] = frozenset(),
) -> Decision:
    """Record one person's decision; settle the approval when it is decided.

    Any listed approver can reject; approval needs `required` distinct approvers. A
    decision after the deadline is refused: on timeout an approval is rejected, never
    approved.
    """
    with runtime.db.session() as session:
        row = store.lock_approval(session, approval_id)
        if row is None:
            raise NotFound(f"approval {approval_id} does not exist")
        if not allowed(row, user, runtime.settings.groups, member_of):
            raise Forbidden(f"{user} is not an approver of {approval_id}")
        _expire(session, row)
        if row.status != ApprovalStatus.PENDING:
            runtime.wakeups.ring(approval_key(approval_id))
            raise Conflict(f"approval {approval_id} was already {outcome_text(session, row)}")
        store.record_decision(session, row, user, decision, comment)
        audit.record(session, user, f"approval.{decision}", approval_id, comment)
        settled = None
        approvals: set[str] = set()
        if decision == "reject":
            settled = ApprovalStatus.REJECTED.value
        else:
            approvals = {
                d.user for d in store.decisions(session, row.id) if d.decision == "approve"
            }
            if len(approvals) >= row.required:
                settled = ApprovalStatus.APPROVED.value
        if settled:
            store.close_approval(session, row.id, settled)
        session.flush()
        session.refresh(row)
    continues = None
    if settled:
        runtime.wakeups.ring(approval_key(approval_id))
        continues = settle_parked(runtime, approval_id)
    done = f"{DECIDED[decision]} by {logs.clean(user)}"
    if not settled:  # one of several approvals needed
        done += f" ({len(approvals)} of {row.required})"
    said = f': "{logs.clean(comment)}"' if comment else ""
    logs.note(
        "approval.decided",
        f"approval {approval_id} {done} (run {row.run_id}, job {row.job_id}){said}",
        approval_id=approval_id,
        run_id=row.run_id,
        user=user,
        decision=decision,
        settled=settled,
    )
    return Decision(approval=row, settled=settled, continues=continues)


def cancel_pending(runtime: Runtime, run_id: str) -> list[str]:
    """Close the run's open approvals as cancelled and wake their jobs; the ids of those
    whose parked run needs a continuation."""
    with runtime.db.session() as session:
        pending = store.pending_for_run(session, run_id)
        closed = [
            row.id
            for row in pending
            if store.close_approval(session, row.id, ApprovalStatus.CANCELLED)
        ]
    for approval_id in closed:
        runtime.wakeups.ring(approval_key(approval_id))
    return [a for a in closed if settle_parked(runtime, a) is not None]


def expire_due(runtime: Runtime) -> list[tuple[str, str]]:
    """Time out the parked runs' approvals whose deadline has passed; (run id, approval
    id) of those this call closed. The conditional close decides, with several
    processes scanning, which one settles the job and starts the continuation."""
    with runtime.db.session() as session:
        due = [(row.run_id, row.id) for row in store.due(session, datetime.now(UTC))]
    closed = []
    for run_id, approval_id in due:
        with runtime.db.session() as session:
            if not store.close_approval(session, approval_id, ApprovalStatus.TIMED_OUT):
                continue
        settle_parked(runtime, approval_id)
        closed.append((run_id, approval_id))
    return closed
