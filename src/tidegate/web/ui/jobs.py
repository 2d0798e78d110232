"""A run's jobs and steps as its page shows them: what ran, merged with what is planned.

Job and step rows appear as the engine reaches them; the run's workflow snapshot says
what else is to come, so a queued run already shows its whole graph and a running job
its later steps. The snapshot is parsed once per workflow digest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from tidegate.engine.execute import step_name
from tidegate.engine.loaded import FINALLY
from tidegate.errors import TidegateError
from tidegate.store.models import Approval, Job, Run, Step
from tidegate.store.runs import LIVE
from tidegate.web.ui.formats import duration
from tidegate.workflows import parse_workflow_text

StepKey = tuple[str, int]


@dataclass(frozen=True)
class PlannedJob:
    job_id: str
    needs: tuple[str, ...]
    steps: tuple[str, ...]  # the steps' names, in order


@dataclass(frozen=True)
class Plan:
    jobs: tuple[PlannedJob, ...]
    finally_steps: tuple[str, ...]


@dataclass(frozen=True)
class StepView:
    job_id: str
    index: int
    name: str
    kind: str
    status: str
    exit_code: int | None
    attempts: int
    duration: str
    error: str
    recorded: bool  # False: planned, not reached (yet)


@dataclass(frozen=True)
class JobView:
    job_id: str
    status: str
    needs: tuple[str, ...]
    duration: str
    steps: tuple[StepView, ...]
    approval_id: str | None = None

    @property
    def is_finally(self) -> bool:
        return self.job_id == FINALLY


@lru_cache(maxsize=128)
def snapshot_plan(digest: str, text: str, filename: str) -> Plan | None:
    """The jobs, needs and step names of a workflow snapshot; None if it no longer parses
    (a snapshot from an older version): the page then shows the recorded rows only."""
    del digest  # keys the cache
    try:
        workflow = parse_workflow_text(text, filename)
    except (TidegateError, ValueError):
        return None
    jobs = tuple(
        PlannedJob(job_id, tuple(job.needs), tuple(step_name(step) for step in job.steps))
        for job_id, job in workflow.jobs.items()
    )
    return Plan(jobs, tuple(step_name(step) for step in workflow.finally_))


def step_names(steps: Iterable[Step | StepView]) -> dict[StepKey, str]:
    return {(step.job_id, step.index): step.name for step in steps}


def _step_view(row: Step, now: datetime) -> StepView:
    return StepView(
        job_id=row.job_id,
        index=row.index,
        name=row.name,
        kind=row.kind,
        status=row.status,
        exit_code=row.exit_code,
        attempts=row.attempts,
        duration=duration(row.started_at, row.finished_at, now),
        error=row.error,
        recorded=True,
    )


def _steps(
    job_id: str, planned: tuple[str, ...], rows: list[Step], pending: str, now: datetime
) -> tuple[StepView, ...]:
    recorded = {row.index: _step_view(row, now) for row in rows}
    for index, name in enumerate(planned):
        if index not in recorded:
            recorded[index] = StepView(job_id, index, name, "", pending, None, 0, "", "", False)
    return tuple(recorded[index] for index in sorted(recorded))


def job_views(
    run: Run,
    job_rows: list[Job],
    step_rows: list[Step],
    approvals: list[Approval],
    now: datetime,
) -> list[JobView]:
    """Every job in the workflow's order, then `finally` when it has steps."""
    plan = snapshot_plan(
        run.workflow_digest, run.workflow_text, run.workflow_file or run.workflow_name
    )
    # What has not been reached: still to come while the run lives, never run after.
    pending = "queued" if run.status in LIVE else "skipped"
    rows = {job.job_id: job for job in job_rows}
    steps_by_job: dict[str, list[Step]] = {}
    for step in step_rows:
        steps_by_job.setdefault(step.job_id, []).append(step)
    approval_of = {a.job_id: a.id for a in approvals}
    planned = {job.job_id: job for job in plan.jobs} if plan else {}
    order = list(planned) + sorted(set(rows) - set(planned))
    views = []
    for job_id in order:
        row = rows.get(job_id)
        plan_job = planned.get(job_id)
        needs = tuple(row.needs) if row else plan_job.needs if plan_job else ()
        # A finished job's unreached steps never run, whatever the run does next.
        waiting = "skipped" if row and row.status not in LIVE else pending
        views.append(
            JobView(
                job_id=job_id,
                status=row.status if row else pending,
                needs=needs,
                duration=duration(row.started_at, row.finished_at, now) if row else "",
                steps=_steps(
                    job_id,
                    plan_job.steps if plan_job else (),
                    steps_by_job.get(job_id, []),
                    waiting,
                    now,
                ),
                approval_id=approval_of.get(job_id),
            )
        )
    final_steps = _steps(
        FINALLY, plan.finally_steps if plan else (), steps_by_job.get(FINALLY, []), pending, now
    )
    if final_steps:
        views.append(JobView(FINALLY, _finally_status(final_steps), (), "", final_steps))
    return views


def _finally_status(steps: tuple[StepView, ...]) -> str:
    statuses = {step.status for step in steps}
    for status in ("running", "failed", "timed_out", "cancelled", "queued"):
        if status in statuses:
            return status
    return "succeeded" if "succeeded" in statuses else "skipped"
