"""Statuses of runs, jobs, steps and approvals, and how they roll up.

`Status` is a `StrEnum`: a member is its string, so what the database stores and the
API returns is the same text as before ("timed_out"). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class Status(StrEnum):
    """Of a run, a job or a step (`undelivered` is a callback step's, `skipped` a job's
    or a step's, `waiting` a run's or a job's)."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    UNDELIVERED = "undelivered"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


# A run in one of these has ended; a job also ends `skipped`.
RUN_FINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.TIMED_OUT})
JOB_FINAL = RUN_FINAL | {Status.SKIPPED}
# A run's states in the order people read them (filters, the API's enum).
RUN_STATUSES = (
    Status.QUEUED,
    Status.RUNNING,
    Status.WAITING,
    Status.SUCCEEDED,
    Status.FAILED,
    Status.TIMED_OUT,
    Status.CANCELLED,
)
LIVE = frozenset({Status.QUEUED, Status.RUNNING, Status.WAITING})
# A step that ended in one of these is tried again (`retries:`); in `finally` it fails a
# run that had succeeded.
FAILING = frozenset({Status.FAILED, Status.TIMED_OUT})
# After a step ends in one of these, the job's later steps see `job.status` "failed".
STOPS_JOB = FAILING | {Status.CANCELLED}


def job_status(steps: Iterable[str]) -> Status:
    """A job's status from its steps' (continue_on_error already folded in): the worst
    of cancelled, timed out, failed; else succeeded."""
    ended = set(steps)
    for worst in (Status.CANCELLED, Status.TIMED_OUT, Status.FAILED):
        if worst in ended:
            return worst
    return Status.SUCCEEDED


def run_status(jobs: Mapping[str, str], *, cancelled: bool, engine_error: bool) -> Status:
    """A run's status from its jobs', before `finally` (what `run.status` shows there)."""
    ended = set(jobs.values())
    if cancelled or Status.CANCELLED in ended:
        return Status.CANCELLED
    if Status.TIMED_OUT in ended:
        return Status.TIMED_OUT
    if Status.FAILED in ended or engine_error:
        return Status.FAILED
    return Status.SUCCEEDED


def after_approval(outcome: str) -> Status:
    """A job's status from how its approval was settled: only approved succeeds."""
    settled: dict[str, Status] = {
        ApprovalStatus.APPROVED: Status.SUCCEEDED,
        ApprovalStatus.CANCELLED: Status.CANCELLED,
    }
    return settled.get(outcome, Status.FAILED)
