"""Run- and job-level steps the durable workflows checkpoint: plan, decide, wait, finish.

Nothing here imports DBOS; `durable.py` decides what is a step and in which order.
Each function is safe to run again after a crash: its state changes are idempotent.
"""

from __future__ import annotations

import asyncio

from tidegate import logs
from tidegate.engine import pinning, workspaces
from tidegate.engine.checkpoints import Checkpoint, Conclusion, JobPlan, RunPlan
from tidegate.engine.decisions import job_verdict
from tidegate.engine.loaded import LoadedRun, load_run, load_run_in
from tidegate.engine.logsink import mask
from tidegate.engine.runtime import Runtime, get_runtime
from tidegate.engine.stepctx import expr_context
from tidegate.engine.wakeups import run_key
from tidegate.status import JOB_FINAL, Status, run_status
from tidegate.store import runs as store_runs
from tidegate.store.models import Run
from tidegate.store.waiting import parks
from tidegate.telemetry import RUN_SECONDS

RUN = "run"  # `decide_job`'s verdict for a job that runs; any other is its final status


def begin_run(runtime: Runtime, run_id: str) -> tuple[Checkpoint, LoadedRun, list[str]]:
    """Mark the run started and lay out its jobs: the plan the workflow follows, and
    the run as read, with the registries its pinning may ask (one transaction).

    A fresh run's first jobs (no `needs`, no `if:`) start running here, in the same
    transaction: their plans go in the checkpoint (`started`), and their workflows skip
    `start_job`, whose verdict could only be "run" (nothing it reads has changed yet,
    and a cancel is looked at again before every step).
    """
    with runtime.db.session() as session:
        loaded = load_run_in(session, run_id)
        # A snapshot of the run as it was: the status update below would otherwise
        # rewrite it in memory (SQLAlchemy synchronises the session's objects).
        session.expunge(loaded.run)
        bound = pinning.bound_registries(session, loaded)
        workflow = loaded.workflow
        jobs = {job_id: list(job.needs) for job_id, job in workflow.jobs.items()}
        # Not again when recovery repeats this step: then its jobs start as usual.
        fresh = loaded.run.status == Status.QUEUED
        started = {
            job_id: job_plan(loaded, job_id).checkpoint()
            for job_id, job in workflow.jobs.items()
            if fresh and not loaded.run.cancel_requested and not job.needs and job.if_ is None
        }
        store_runs.ensure_jobs(session, run_id, jobs, existing=loaded.job_statuses, running=started)
        store_runs.set_run_status(session, run_id, Status.RUNNING)
    if fresh:
        name = loaded.run.workflow_name
        logs.note("run.started", f"run {run_id} {name} started", run_id=run_id, workflow=name)
    plan = RunPlan(jobs, [step.retries for step in workflow.finally_], started)
    return plan.checkpoint(), loaded, bound


async def begin_and_pin(run_id: str) -> Checkpoint:
    """`begin_run`, then `pinning.pin`: a run's start is one checkpoint and one read."""
    runtime = get_runtime()
    plan, loaded, bound = await asyncio.to_thread(begin_run, runtime, run_id)
    return {"plan": plan, "pinned": await pinning.pin(runtime, loaded, bound)}


def job_plan(loaded: LoadedRun, job_id: str) -> JobPlan:
    job = loaded.workflow.jobs[job_id]
    return JobPlan(job.approval is not None, bool(job.services), [s.retries for s in job.steps])


def start_job(run_id: str, job_id: str, needs: dict[str, str]) -> Checkpoint:
    """The job's plan, and whether it runs (`decide_job`), from one read of the run."""
    runtime = get_runtime()
    loaded = load_run(runtime, run_id)
    plan = job_plan(loaded, job_id)
    return {"plan": plan.checkpoint(), "verdict": decide_job(runtime, loaded, job_id, needs)}


def decide_job(runtime: Runtime, loaded: LoadedRun, job_id: str, needs: dict[str, str]) -> str:
    """Whether the job runs: "run", "skipped", "cancelled" (or "failed" for a bad `if`)."""
    run_id = loaded.run.id
    job = loaded.workflow.jobs[job_id]
    ended, error = job_verdict(
        job.if_,
        expr_context(runtime, loaded, {**loaded.job_statuses, **needs}, Status.RUNNING),
        needs,
        cancelled=loaded.run.cancel_requested,  # read with the run, this step
    )
    if error:
        _record_job_error(runtime, run_id, job_id, error)
    if ended is not None:
        return finish_job(run_id, job_id, ended)
    with runtime.db.session() as session:
        store_runs.set_job_status(session, run_id, job_id, Status.RUNNING)
    return RUN


def skip_jobs(run_id: str) -> None:
    """Every job skipped: the run ends before any starts (an image it cannot pin)."""
    runtime = get_runtime()
    with runtime.db.session() as session:
        for job in store_runs.jobs_of(session, run_id):
            store_runs.set_job_status(session, run_id, job.job_id, Status.SKIPPED)


def _record_job_error(runtime: Runtime, run_id: str, job_id: str, message: str) -> None:
    with runtime.db.session() as session:
        store_runs.upsert_step(
            session, run_id, job_id, 0, name="if", kind="if", status=Status.FAILED, error=message
        )


def finish_job(run_id: str, job_id: str, status: str) -> str:
    """Record the job's end and wake its run; returns the status as plain text (a
    checkpoint: see checkpoints.py)."""
    runtime = get_runtime()
    with runtime.db.session() as session:
        store_runs.set_job_status(session, run_id, job_id, status)
    runtime.wakeups.ring(run_key(run_id))
    return str(status)


def fail_job(run_id: str, job_id: str, message: str) -> str:
    """A job the engine itself failed: the run records an engine error."""
    runtime = get_runtime()
    with runtime.db.session() as session:
        store_runs.mark_engine_error(session, run_id, f"job {job_id}: {message}")
    return finish_job(run_id, job_id, Status.FAILED)


async def wait_for_jobs(run_id: str, job_ids: list[str]) -> dict[str, str]:
    """Block until at least one of `job_ids` has ended; returns those that have. Empty
    when the run parks: every one of them waits for an approval (`store.waiting.parks`)."""
    runtime = get_runtime()
    wanted = set(job_ids)

    def ended() -> dict[str, str] | None:
        with runtime.db.session() as session:
            statuses = {
                job.job_id: job.status
                for job in store_runs.jobs_of(session, run_id)
                if job.job_id in wanted
            }
            done = {job_id: s for job_id, s in statuses.items() if s in JOB_FINAL}
            if done:
                return done
            if statuses and all(s == Status.WAITING for s in statuses.values()):
                run = store_runs.get_run(session, run_id)
                if run is not None and parks(run):
                    return {}
        return None

    result = await runtime.wakeups.until(run_key(run_id), ended)
    assert result is not None
    return result


def conclude(run_id: str, job_statuses: dict[str, str]) -> Checkpoint:
    """The run's status before `finally` (what `run.status` shows there)."""
    runtime = get_runtime()
    with runtime.db.session() as session:
        run = store_runs.get_run(session, run_id)
        assert run is not None
        cancelled, engine_error, error = run.cancel_requested, run.engine_error, run.error
    status = run_status(job_statuses, cancelled=cancelled, engine_error=engine_error)
    return Conclusion(status, engine_error, error).checkpoint()


def end_run(run_id: str, job_statuses: dict[str, str]) -> str:
    """`conclude`, then `finish_run`: the end of a run without `finally` steps, in one
    checkpoint."""
    outcome = Conclusion.restore(conclude(run_id, job_statuses))
    return finish_run(run_id, outcome.status.value, outcome.engine_error, outcome.error or "")


def finish_run(run_id: str, status: str, engine_error: bool, error: str) -> str:
    runtime = get_runtime()
    with runtime.db.session() as session:
        ended = store_runs.set_run_status(
            session, run_id, status, error=error or None, engine_error=engine_error
        )
        run = store_runs.get_run(session, run_id) if ended else None
        if run is not None and run.finished_at is not None:
            took = (run.finished_at - run.created_at).total_seconds()
            RUN_SECONDS.labels(run.workflow_name, status).observe(max(took, 0.0))
            _note_end(runtime, run, status)
    with runtime.lock:
        runtime.cancelled.discard(run_id)
    workspaces.on_run_end(runtime, run_id, status)  # retention (engine/workspaces.py)
    return status


def _note_end(runtime: Runtime, run: Run, status: str) -> None:
    assert run.finished_at is not None
    took = (run.finished_at - (run.started_at or run.created_at)).total_seconds()
    line = f"run {run.id} {run.workflow_name} {status} in {max(took, 0.0):.1f}s"
    if status != Status.SUCCEEDED and run.error:
        # An error can quote a step's output: mask the secrets, as the run's log does.
        line += f": {logs.clean(mask(run.error, runtime.secret_values()))}"
    logs.note(
        "run.finished",
        line,
        run_id=run.id,
        workflow=run.workflow_name,
        status=status,
        seconds=round(took, 3),
    )
