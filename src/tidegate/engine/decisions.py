"""What becomes of one step attempt, decided without I/O: did it end already (its row
says so), does it run at all, how did it end (what it raised), and does
`continue_on_error` forgive it. `execute.py` does the I/O around these.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidegate.errors import ExpressionError, StepFailed
from tidegate.status import LIVE, Status
from tidegate.workflows import Step, compile_condition


@dataclass(frozen=True)
class Ended:
    """How a step attempt ended. `error` None leaves the recorded error as it is;
    `notes` are Tidegate's lines for the step's log."""

    status: Status
    error: str | None = None
    notes: tuple[str, ...] = ()


def recorded(status: str | None, attempts: int | None, attempt: int) -> Status | None:
    """How `attempt` ended, when the step's row already says (the row is the step's
    checkpoint: a replayed job must not run again what ended); None: it runs (again).

    The row holds the latest attempt. A later one began only because this one failed
    or timed out, which `FAILED` stands for (the job workflow reads no more than that
    from an earlier attempt). A row written before any attempt ran (skipped, cancelled,
    an `if` error) says 0 attempts and is the first attempt's outcome.
    """
    if status is None or Status(status) in LIVE:
        return None if not attempts or attempts <= attempt else Status.FAILED
    if attempts and attempts > attempt:
        return Status.FAILED
    if attempts == attempt or (not attempts and attempt == 1):
        return Status(status)
    return None


def before_attempt(
    step: Step,
    expressions: Mapping[str, Any],
    *,
    in_finally: bool,
    cancelled: bool,
    job_failed: bool,
    timeout: float,
) -> Ended | None:
    """How the step ends without running; None when it runs.

    A cancelled run skips its jobs' steps (not its `finally` steps). A step runs when
    its `if` holds, else when its job has not failed (`finally` steps always). A step
    whose job or run has no time left times out at once.
    """
    if cancelled and not in_finally:
        return Ended(Status.CANCELLED)
    try:
        if step.if_:
            # `job.status` is the one context that changes within a job.
            job = {"status": "failed" if job_failed else "running"}
            runs = compile_condition(step.if_).evaluate({**expressions, "job": job})
        else:
            runs = in_finally or not job_failed
    except ExpressionError as exc:
        return Ended(Status.FAILED, f"if: {exc}")
    if not runs:
        return Ended(Status.SKIPPED)
    if timeout <= 0:
        return Ended(Status.TIMED_OUT, "the job's or run's timeout passed")
    return None


def ended_by(exc: Exception | None) -> Ended:
    """How an attempt ended, from what its kind raised (None: nothing, it succeeded).

    `StepFailed` and expression errors are the user's; anything else is ours, and the
    step's log gets the trace for operators.
    """
    if exc is None:
        return Ended(Status.SUCCEEDED, "")
    if isinstance(exc, StepFailed):
        return Ended(Status(exc.status), exc.message, (f"step {exc.status}: {exc.message}",))
    if isinstance(exc, ExpressionError):
        return Ended(Status.FAILED, str(exc), (f"step failed: {exc}",))
    trace = "".join(traceback.format_exception(exc)).splitlines()
    return Ended(Status.FAILED, f"engine error: {exc!r}", (f"engine error: {exc!r}", *trace))


def forgive(ended: Ended, continue_on_error: bool) -> Ended:
    """A failed step with `continue_on_error` counts as succeeded; its error says so."""
    if ended.status != Status.FAILED or not continue_on_error:
        return ended
    return Ended(
        Status.SUCCEEDED,
        f"failed (continue_on_error): {ended.error}",
        ("continue_on_error: the job goes on",),
    )


def job_verdict(
    condition: str | None,
    expressions: Mapping[str, Any],
    needs: Mapping[str, str],
    *,
    cancelled: bool,
) -> tuple[Status | None, str]:
    """Whether a job runs (None) or how it ends without running; and the error of an
    `if` that cannot be evaluated (the job fails).

    Without an `if`, a job runs when every job it needs succeeded.
    """
    if cancelled:
        return Status.CANCELLED, ""
    if not condition:
        runs = all(status == Status.SUCCEEDED for status in needs.values())
        return (None if runs else Status.SKIPPED), ""
    try:
        runs = compile_condition(condition).evaluate(expressions)
    except ExpressionError as exc:
        return Status.FAILED, f"if: {exc}"
    return (None if runs else Status.SKIPPED), ""
