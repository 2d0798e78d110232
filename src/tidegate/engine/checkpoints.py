"""What the durable workflows' steps return, typed.

DBOS checkpoints a step's return value with its default serializer, pickle, and hands
the unpickled value back when recovery replays the step. So a checkpoint stays plain
data (dicts, lists, strings) of the same shape as before these classes: a pickled class
would tie every run in flight to this module's path and names (a later move would make
their recovery fail), and runs checkpointed by an earlier release read back unchanged.
Each class turns itself into that data (`checkpoint`, in the step) and back (`restore`,
in the workflow); nothing else reads a checkpoint by key.

DBOS also matches each replayed step by its function's name: the checkpointed
functions (`bookkeeping.begin_and_pin`, `bookkeeping.start_job`, …) keep theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tidegate.executors.base import ServiceHandle
from tidegate.status import Status

Checkpoint = dict[str, Any]


@dataclass(frozen=True)
class RunPlan:
    """`begin_run` (in `begin_and_pin`): the jobs (each with the jobs it needs, in file
    order), the retries of each `finally` step, and the jobs `begin_run` started itself
    with their `JobPlan`s (absent from the checkpoints of earlier releases)."""

    jobs: dict[str, list[str]]
    finally_retries: list[int]
    started: dict[str, Checkpoint] = field(default_factory=dict)

    def checkpoint(self) -> Checkpoint:
        return {
            "jobs": [[job_id, list(needs)] for job_id, needs in self.jobs.items()],
            "finally": list(self.finally_retries),
            "started": dict(self.started),
        }

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> RunPlan:
        return cls(
            {job_id: list(needs) for job_id, needs in data["jobs"]},
            list(data["finally"]),
            dict(data.get("started") or {}),
        )


@dataclass(frozen=True)
class Pinned:
    """`pinning.pin`: the run's digest, or why there is none, and `on_unresolved`."""

    digest: str
    error: str
    policy: str

    @property
    def refused(self) -> bool:
        """`on_unresolved: fail` and no digest: nothing runs on an image we cannot name."""
        return not self.digest and self.policy == "fail"

    def checkpoint(self) -> Checkpoint:
        return {"digest": self.digest, "error": self.error, "policy": self.policy}

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> Pinned:
        return cls(str(data["digest"] or ""), str(data["error"]), str(data["policy"]))


@dataclass(frozen=True)
class Conclusion:
    """`conclude`: the run's status before `finally`, and its engine error."""

    status: Status
    engine_error: bool
    error: str | None

    def checkpoint(self) -> Checkpoint:
        return {"status": self.status.value, "engine_error": self.engine_error, "error": self.error}

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> Conclusion:
        return cls(Status(data["status"]), bool(data["engine_error"]), data["error"])


@dataclass(frozen=True)
class JobPlan:
    """`start_job`: what kind of job it is, and the retries of each step."""

    approval: bool
    services: bool
    retries: list[int]

    def checkpoint(self) -> Checkpoint:
        return {"approval": self.approval, "services": self.services, "retries": self.retries}

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> JobPlan:
        return cls(bool(data["approval"]), bool(data["services"]), list(data["retries"]))


@dataclass(frozen=True)
class StartedServices:
    """`start_services`: the services started, or why the job cannot run."""

    services: list[ServiceHandle]
    error: str = ""

    def checkpoint(self) -> Checkpoint:
        started: Checkpoint = {
            "containers": [[s.name, s.container_id, s.image, s.network] for s in self.services]
        }
        return {**started, "error": self.error} if self.error else started

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> StartedServices:
        services = [ServiceHandle(*row) for row in data["containers"]]
        return cls(services, str(data.get("error") or ""))


@dataclass(frozen=True)
class OpenedApproval:
    """`open_approval`: the job's approval."""

    approval_id: str

    def checkpoint(self) -> Checkpoint:
        return {"approval_id": self.approval_id}

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> OpenedApproval:
        return cls(str(data["approval_id"]))
