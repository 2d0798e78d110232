"""The durable workflows: a run, and one child workflow per job.

Every job starts at once as its own workflow and first waits for the jobs it needs,
so independent jobs run concurrently while each workflow stays deterministic. What
touches the world happens in `execute`/`approval` functions checkpointed as steps: after
a crash, finished steps are not run again and the one in flight runs once more.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS, SetWorkflowID, StepOptions, WorkflowHandleAsync

from tidegate.engine import approval, execute
from tidegate.engine.loaded import FINALLY

# A step's own retries are the workflow's decision (`retries:`), never DBOS's.
ONCE: StepOptions = {"retries_allowed": False}
NEVER = 10 * 365 * 24 * 3600.0  # an approval without a timeout waits "forever"
APPROVAL_TOPIC = "approval"
RESULT_POLL_SECONDS = 0.2


def job_workflow_id(run_id: str, job_id: str) -> str:
    return f"{run_id}.{job_id}"


@DBOS.workflow(name="tidegate.run")
async def run_workflow(run_id: str) -> str:
    plan: dict[str, Any] = await DBOS.run_step_async(ONCE, execute.begin_run, run_id)
    handles = []
    for job_id, _needs in plan["jobs"]:
        with SetWorkflowID(job_workflow_id(run_id, job_id)):
            handles.append((job_id, await DBOS.start_workflow_async(job_workflow, run_id, job_id)))
    statuses: dict[str, str] = {}
    engine_error = False
    error = ""
    for job_id, handle in handles:
        try:
            statuses[job_id] = await handle.get_result()
        except Exception as exc:  # a job workflow that crashed is our failure
            statuses[job_id] = "failed"
            engine_error = True
            error = f"job {job_id}: engine error: {exc!r}"
            await DBOS.run_step_async(ONCE, execute.finish_job, run_id, job_id, "failed")
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
async def job_workflow(run_id: str, job_id: str) -> str:
    plan: dict[str, Any] = await DBOS.run_step_async(ONCE, execute.job_plan, run_id, job_id)
    needs: dict[str, str] = {}
    for need in plan["needs"]:
        handle: WorkflowHandleAsync[str] = await DBOS.retrieve_workflow_async(
            job_workflow_id(run_id, need)
        )
        try:
            needs[need] = await handle.get_result(polling_interval_sec=RESULT_POLL_SECONDS)
        except Exception:
            needs[need] = "failed"
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
