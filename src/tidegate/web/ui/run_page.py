"""Everything the run page shows, read in one transaction with one query per kind of
record (never one per job, step or approval)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from markupsafe import Markup
from sqlalchemy.orm import Session

from tidegate.engine.approval import allowed
from tidegate.errors import NotFound
from tidegate.store import approvals as store_approvals
from tidegate.store import audit as store_audit
from tidegate.store import deliveries as store_deliveries
from tidegate.store import events as store_events
from tidegate.store import promotions as store_promotions
from tidegate.store import runs as store_runs
from tidegate.store.models import (
    Approval,
    ApprovalDecision,
    AuditEntry,
    Delivery,
    Event,
    Promotion,
    Run,
)
from tidegate.web.auth import Caller
from tidegate.web.state import AppState
from tidegate.web.ui.formats import duration
from tidegate.web.ui.graph import render_graph
from tidegate.web.ui.jobs import JobView, job_views, step_names
from tidegate.web.ui.logview import LogWindow, read_window


@dataclass(frozen=True)
class ApprovalView:
    row: Approval
    decisions: list[ApprovalDecision]
    given: int  # distinct people who approved
    may_decide: bool  # the viewer is an approver+ and listed (by name or group)


@dataclass
class RunView:
    run: Run
    event: Event
    jobs: list[JobView]
    graph: Markup
    approvals: list[ApprovalView]
    promotions: list[Promotion]
    deliveries: list[Delivery]
    audit: list[AuditEntry]
    holder: Run | None  # what a queued run waits for (its concurrency key's holder)
    duration: str
    can_cancel: bool
    can_rerun: bool
    log: LogWindow | None = None
    notice: str = ""
    reruns: list[str] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.run.status in store_runs.LIVE

    @property
    def reference(self) -> str:
        """`registry/repository:tag@digest`: what was pushed, and what the run pinned."""
        tagged = f"{self.event.registry_host}/{self.event.repository}"
        if self.event.tag:
            tagged += f":{self.event.tag}"
        digest = self.run.digest or self.event.digest
        return f"{tagged}@{digest}" if digest else tagged


def _approvals(
    session: Session, run_id: str, state: AppState, caller: Caller
) -> list[ApprovalView]:
    rows = store_approvals.list_for_run(session, run_id)
    decided = store_approvals.decisions_for(session, [row.id for row in rows])
    views = []
    for row in rows:
        decisions = decided[row.id]
        may = (
            row.status == "pending"
            and caller.ranks("approver")
            and allowed(row, caller.user, state.settings.groups, caller.groups)
        )
        views.append(
            ApprovalView(
                row=row,
                decisions=decisions,
                given=len({d.user for d in decisions if d.decision == "approve"}),
                may_decide=may,
            )
        )
    return views


def read_run(session: Session, state: AppState, run_id: str, caller: Caller) -> RunView:
    """The run page without its log (the live part re-reads this every few seconds)."""
    run = store_runs.get_run(session, run_id)
    if run is None:
        raise NotFound(f"run {run_id} does not exist")
    event = store_events.get_event(session, run.event_id)
    assert event is not None  # a run's event is never deleted (foreign key)
    now = datetime.now(UTC)
    approvals = _approvals(session, run_id, state, caller)
    jobs = job_views(
        run,
        store_runs.jobs_of(session, run_id),
        store_runs.steps_of(session, run_id),
        [a.row for a in approvals],
        now,
    )
    targets = [run_id, *(a.row.id for a in approvals)]
    audit = store_audit.entries_for(session, targets)
    approver = caller.ranks("approver")
    return RunView(
        run=run,
        event=event,
        jobs=jobs,
        graph=render_graph(jobs),
        approvals=approvals,
        promotions=store_promotions.promotions_of(session, run_id),
        deliveries=store_deliveries.deliveries_of(session, run_id),
        audit=audit,
        holder=store_runs.concurrency_holder(session, run) if run.status == "queued" else None,
        duration=duration(run.started_at, run.finished_at, now),
        can_cancel=approver and run.status in store_runs.LIVE and not run.cancel_requested,
        can_rerun=approver and run.status in store_runs.FINAL,
        # Re-runs of this run, from its audit entries (`run.rerun` names the new run).
        reruns=[e.detail for e in audit if e.action == "run.rerun" and e.target == run_id],
    )


def read_page(
    state: AppState,
    run_id: str,
    caller: Caller,
    *,
    log_before: int | None = None,
    log_after: int | None = None,
) -> RunView:
    """The whole page: the run and a window of its log."""
    with state.db.session() as session:
        view = read_run(session, state, run_id, caller)
        names = step_names(s for job in view.jobs for s in job.steps if s.recorded)
        view.log = read_window(session, run_id, names, before=log_before, after=log_after)
    return view
