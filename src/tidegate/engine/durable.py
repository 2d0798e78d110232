"""The durable workflows: a run, and one child workflow per job.

The run starts each job as its own workflow once the jobs it needs have finished, so
independent jobs run concurrently; a job reports its status to the run by message when
it ends, and the run waits on those messages (no polling, no thread held). What
touches the world happens in `execute`/`approval` functions checkpointed as steps: after
a crash, finished steps are not run again and the one in flight runs once more.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS, SetWorkflowID, StepOptions

from tidegate.engine import approval, execute
from tidegate.engine.loaded import FINALLY

# A step's own retries are the workflow's decision (`retries:`), never DBOS's.
ONCE: StepOptions = {"retries_allowed": False}
NEVER = 10 * 365 * 24 * 3600.0  # an approval without a timeout waits "forever"
APPROVAL_TOPIC = "approval"
JOB_DONE_TOPIC = "job-done"


def job_workflow_id(run_id: str, job_id: str) -> str:
    return f"{run_id}.{job_id}"


@DBOS.workflow(name="tidegate.run")
async def run_workflow(run_id: str) -> str:
    plan: dict[str, Any] = await DBOS.run_step_async(ONCE, execute.begin_run, run_id)
    needs: dict[str, list[str]] = {job_id: job_needs for job_id, job_needs in plan["jobs"]}
    statuses: dict[str, str] = {}
    started: set[str] = set()
    engine_error = False
    error = ""
    while len(statuses) < len(needs):
        # A job starts once all it needs have finished; schema validation rules out cycles.
        for job_id, job_needs in needs.items():
            if job_id not in started and all(n in statuses for n in job_needs):
                started.add(job_id)
                with SetWorkflowID(job_workflow_id(run_id, job_id)):
                    await DBOS.start_workflow_async(
                        job_workflow, run_id, job_id, {n: statuses[n] for n in job_needs}
                    )
        # Jobs report as they finish: the run waits on one message, never polls its jobs.
        done: dict[str, Any] = await DBOS.recv_async(JOB_DONE_TOPIC, timeout_seconds=NEVER)
        statuses[done["job"]] = done["status"]
        if done.get("engine_error"):
            engine_error = True
            error = error or f"job {done['job']}: {done['engine_error']}"
    status: str = await DBOS.run_step_async(ONCE, execute.conclude, run_id, statuses, engine_error)
    finally_failed = False
    for index, retries in enumerate(plan["finally"]):
        result = await _step_with_retries(
            run_id, FINALLY, index, retries, False, status, engine_error
        )
        finally_failed = finally_failed or result in ("failed", "timed_out")
    if finally_failed and status == "succeeded":
        status = "failed"
        error = error or "a finally step failed"
    final: str = await DBOS.run_step_async(
        ONCE, execute.finish_run, run_id, status, engine_error, error
    )
    return final


@DBOS.workflow(name="tidegate.job")
async def job_workflow(run_id: str, job_id: str, needs: dict[str, str]) -> str:
    report: dict[str, Any] = {"job": job_id, "status": "failed"}
    try:
        report["status"] = await _job(run_id, job_id, needs)
    except Exception as exc:  # ours, not the user's: the run must still hear of it
        report["engine_error"] = f"engine error: {exc!r}"
        await DBOS.run_step_async(ONCE, execute.finish_job, run_id, job_id, "failed")
    await DBOS.send_async(run_id, report, JOB_DONE_TOPIC)
    return str(report["status"])


async def _job(run_id: str, job_id: str, needs: dict[str, str]) -> str:
    plan: dict[str, Any] = await DBOS.run_step_async(ONCE, execute.job_plan, run_id, job_id)
    verdict: str = await DBOS.run_step_async(ONCE, execute.decide_job, run_id, job_id, needs)
    if verdict != "run":
        return verdict
    if plan["approval"]:
        status = await _approval(run_id, job_id)
    else:
        results: list[str] = []
        job_failed = False
        for index, retries in enumerate(plan["retries"]):
            result = await _step_with_retries(
                run_id, job_id, index, retries, job_failed, "running", False
            )
            results.append(result)
            job_failed = job_failed or result in ("failed", "timed_out", "cancelled")
        status = execute.job_status_from_steps(results)
    finished: str = await DBOS.run_step_async(ONCE, execute.finish_job, run_id, job_id, status)
    return finished


async def _step_with_retries(
    run_id: str,
    job_id: str,
    index: int,
    retries: int,
    job_failed: bool,
    run_status: str,
    engine_error: bool,
) -> str:
    status = "failed"
    for attempt in range(1, retries + 2):
        status = await DBOS.run_step_async(
            ONCE,
            execute.execute_step,
            run_id,
            job_id,
            index,
            attempt,
            job_failed,
            run_status,
            engine_error,
        )
        if status not in ("failed", "timed_out"):
            break
        if attempt <= retries:
            # Durable backoff: a restart does not shorten or repeat it.
            await DBOS.sleep_async(min(2.0 ** (attempt - 1), 30.0))
    return status


async def _approval(run_id: str, job_id: str) -> str:
    opened: dict[str, Any] = await DBOS.run_step_async(ONCE, approval.open_approval, run_id, job_id)
    await DBOS.run_step_async(ONCE, approval.notify_opened, run_id, job_id, opened["approval_id"])
    timeout = opened["timeout"]
    # The durable recv holds no thread; its deadline survives restarts.
    message = await DBOS.recv_async(
        APPROVAL_TOPIC, timeout_seconds=max(timeout, 0.0) if timeout is not None else NEVER
    )
    status: str = await DBOS.run_step_async(
        ONCE, approval.settle, run_id, job_id, opened["approval_id"], message
    )
    return status


async def wake_approval(run_id: str, job_id: str, outcome: str) -> None:
    """Tell a job waiting on its approval that it was settled."""
    await DBOS.send_async(job_workflow_id(run_id, job_id), outcome, APPROVAL_TOPIC)
