"""The durable workflows: a run, and one child workflow per job.

The run starts each job as its own workflow once the jobs it needs have ended, so
independent jobs run concurrently. The first jobs (no `needs`, no `if:`) are started by
the run's own first step, which hands their plans to their workflows: one DBOS step
less on the way to a run's first command. Waiting — the run for its jobs, a job for its
approval — is a checkpointed step that re-reads the database when rung (see
`wakeups`): no DBOS message can be lost between a commit and a wake-up, and a waiting
run costs no polling. What touches the world happens in `execute`/`approval` functions,
checkpointed (a user's step by its own row, execute.py; the rest as DBOS steps): after
a crash, finished steps are not run again and the one in flight runs once more.

A run parks at an approval (see `approval.py`): when every job still going waits for
a person, the job and run workflows end and the database says `waiting`. Closing the
approval starts the run's continuation (`continue_run`, id `{run}.after.{approval}`):
the same run logic again, where starting a job whose workflow exists returns it and
only what has not run yet runs. Continuations of one run share a serial queue
partition, and each first waits for the run's own workflow to end, so no two drive a
run at once.

What a step returns is checkpointed as plain data and read back through the classes
of `checkpoints.py`; statuses cross that line as plain strings and become `Status` here.
"""

from __future__ import annotations

import contextlib

from dbos import DBOS, SetWorkflowID, StepOptions

from tidegate.engine import approval, bookkeeping, execute, job_services
from tidegate.engine.checkpoints import (
    Checkpoint,
    Conclusion,
    JobPlan,
    OpenedApproval,
    Pinned,
    RunPlan,
    StartedServices,
)
from tidegate.engine.loaded import FINALLY
from tidegate.status import FAILING, STOPS_JOB, Status, job_status

# A user's step runs once per attempt; its retries are the workflow's (`retries:`).
ONCE: StepOptions = {"retries_allowed": False}
# Bookkeeping is idempotent: a passing database error (a lock, a dropped connection)
# is retried rather than failing the run.
BOOKKEEPING: StepOptions = {
    "retries_allowed": True,
    "max_attempts": 5,
    "interval_seconds": 0.5,
    "backoff_rate": 2.0,
}


def job_workflow_id(run_id: str, job_id: str) -> str:
    return f"{run_id}.{job_id}"


@DBOS.workflow(name="tidegate.run")
async def run_workflow(run_id: str) -> str:
    try:
        begun = await DBOS.run_step_async(BOOKKEEPING, bookkeeping.begin_and_pin, run_id)
    except Exception as exc:  # e.g. a snapshot this release cannot read: end it, visibly
        failed: str = await DBOS.run_step_async(
            BOOKKEEPING, bookkeeping.finish_run, run_id, "failed", True, f"engine error: {exc!r}"
        )
        return failed
    plan, pinned = RunPlan.restore(begun["plan"]), Pinned.restore(begun["pinned"])
    if pinned.refused:
        await DBOS.run_step_async(BOOKKEEPING, bookkeeping.skip_jobs, run_id)
        return await _finish(run_id, plan, Conclusion(Status.FAILED, False, pinned.error))
    return await _drive(run_id, plan)


def continuation_id(run_id: str, approval_id: str) -> str:
    return f"{run_id}.after.{approval_id}"


@DBOS.workflow(name="tidegate.run.after")
async def continue_run(run_id: str, approval_id: str) -> str:
    """The run goes on after `approval_id` was settled (its run had parked)."""
    # The run's first workflow may still be driving it (another job was running): it
    # carries on by itself, and this one looks once it has ended.
    if await DBOS.get_workflow_status_async(run_id) is not None:
        with contextlib.suppress(Exception):  # how it ended is in the database, read next
            await DBOS.get_result_async(run_id)
    resumed = await DBOS.run_step_async(BOOKKEEPING, approval.resume_run, run_id, approval_id)
    if resumed is None:
        return "ended"  # finished already (by another continuation): nothing runs again
    return await _drive(run_id, RunPlan.restore(resumed))


async def _drive(run_id: str, plan: RunPlan) -> str:
    """The run's jobs, then `finally` and its end; PARKED when it waits for people."""
    statuses = await _jobs(run_id, plan)
    if statuses is None:
        return approval.PARKED
    if not plan.finally_retries:
        ended: str = await DBOS.run_step_async(BOOKKEEPING, bookkeeping.end_run, run_id, statuses)
        return ended
    outcome = Conclusion.restore(
        await DBOS.run_step_async(BOOKKEEPING, bookkeeping.conclude, run_id, statuses)
    )
    return await _finish(run_id, plan, outcome)


async def _finish(run_id: str, plan: RunPlan, outcome: Conclusion) -> str:
    status, error = outcome.status, outcome.error
    finally_failed = False
    for index, retries in enumerate(plan.finally_retries):
        result = await _step_with_retries(
            run_id, FINALLY, index, retries, False, status, outcome.engine_error
        )
        finally_failed = finally_failed or result in FAILING
    if finally_failed and status == Status.SUCCEEDED:
        status = Status.FAILED
        error = error or "a finally step failed"
    final: str = await DBOS.run_step_async(
        BOOKKEEPING,
        bookkeeping.finish_run,
        run_id,
        status.value,
        outcome.engine_error,
        error or "",
    )
    return final


async def _jobs(run_id: str, plan: RunPlan) -> dict[str, str] | None:
    """Start each job once what it needs has ended; return every job's status, or None
    when the run parks (every job still going waits for an approval)."""
    statuses: dict[str, str] = {}
    started: set[str] = set()
    while len(statuses) < len(plan.jobs):
        # Schema validation rules out cycles, so something is always ready or running.
        for job_id, job_needs in plan.jobs.items():
            if job_id not in started and all(n in statuses for n in job_needs):
                started.add(job_id)
                with SetWorkflowID(job_workflow_id(run_id, job_id)):
                    await DBOS.start_workflow_async(
                        job_workflow,
                        run_id,
                        job_id,
                        {n: statuses[n] for n in job_needs},
                        plan.started.get(job_id),
                    )
        running = sorted(started - statuses.keys())
        ended: dict[str, str] = await DBOS.run_step_async(
            ONCE, bookkeeping.wait_for_jobs, run_id, running
        )
        if not ended:
            return None
        statuses.update(ended)
    return statuses


@DBOS.workflow(name="tidegate.job")
async def job_workflow(
    run_id: str, job_id: str, needs: dict[str, str], started: Checkpoint | None = None
) -> str:
    """`started`: the job's plan when the run's start already started it (`begin_run`)."""
    try:
        return await _job(run_id, job_id, needs, started)
    except Exception as exc:  # ours, not the user's: the run must still hear of it
        failed: str = await DBOS.run_step_async(
            BOOKKEEPING, bookkeeping.fail_job, run_id, job_id, f"engine error: {exc!r}"
        )
        return failed


async def _job(run_id: str, job_id: str, needs: dict[str, str], started: Checkpoint | None) -> str:
    if started is None:
        begun = await DBOS.run_step_async(BOOKKEEPING, bookkeeping.start_job, run_id, job_id, needs)
        plan, verdict = JobPlan.restore(begun["plan"]), str(begun["verdict"])
    else:
        plan, verdict = JobPlan.restore(started), bookkeeping.RUN
    if verdict != bookkeeping.RUN:
        return verdict
    if plan.approval:
        settled = await _approval(run_id, job_id)
        if settled is None:
            return Status.WAITING.value
        status = settled
    elif plan.services:
        status = await _with_services(run_id, job_id, plan.retries)
    else:
        status = await _steps(run_id, job_id, plan.retries)
    finished: str = await DBOS.run_step_async(
        BOOKKEEPING, bookkeeping.finish_job, run_id, job_id, status.value
    )
    return finished


async def _steps(run_id: str, job_id: str, retries: list[int]) -> Status:
    results: list[Status] = []
    job_failed = False
    for index, attempts in enumerate(retries):
        result = await _step_with_retries(
            run_id, job_id, index, attempts, job_failed, Status.RUNNING, False
        )
        results.append(result)
        job_failed = job_failed or result in STOPS_JOB
    return job_status(results)


async def _with_services(run_id: str, job_id: str, retries: list[int]) -> Status:
    started = StartedServices.restore(
        await DBOS.run_step_async(ONCE, job_services.start_services, run_id, job_id)
    )
    try:
        if started.error:
            return Status.FAILED
        return await _steps(run_id, job_id, retries)
    finally:
        # Teardown runs whatever happened to the steps, cancel included.
        await DBOS.run_step_async(
            BOOKKEEPING, job_services.stop_services, run_id, job_id, started.services
        )


async def _step_with_retries(
    run_id: str,
    job_id: str,
    index: int,
    retries: int,
    job_failed: bool,
    run_status: Status,
    engine_error: bool,
) -> Status:
    status = Status.FAILED
    for attempt in range(1, retries + 2):
        # Not a DBOS step: the step's row is its checkpoint (execute.py).
        status = Status(
            await execute.execute_step(
                run_id, job_id, index, attempt, job_failed, run_status.value, engine_error
            )
        )
        if status not in FAILING:
            break
        if attempt <= retries:
            # Durable backoff: a restart does not shorten or repeat it.
            await DBOS.sleep_async(min(2.0 ** (attempt - 1), 30.0))
    return status


async def _approval(run_id: str, job_id: str) -> Status | None:
    opened = OpenedApproval.restore(
        await DBOS.run_step_async(BOOKKEEPING, approval.open_approval, run_id, job_id)
    )
    approval_id = opened.approval_id
    await DBOS.run_step_async(ONCE, approval.notify_opened, run_id, job_id, approval_id)
    waited = await DBOS.run_step_async(ONCE, approval.wait_for_decision, approval_id)
    if waited == approval.PARKED:
        return None  # whoever closes the approval settles the job
    status: str = await DBOS.run_step_async(
        BOOKKEEPING, approval.settle, run_id, job_id, approval_id
    )
    return Status(status)
