"""The executor plug-in contract: where a step's work runs.

An executor follows woodpecker's backend lifecycle (setup, start, tail, wait, destroy),
folded into one call per piece of work: `run` (a host command) and `run_container` (a
container) start it, tail its output line by line into `on_line`, wait for it to end,
and destroy whatever they started (processes, containers, pods) before returning,
whatever happened: exit, timeout, cancel, or an error of ours. Services live longer
(`start_service` … `stop_service`), and `reap` destroys what a crashed predecessor
left. Destroying is idempotent, so `close` may destroy again what was cleaned up.

An executor does the kinds of work it can and refuses the others with `Unsupported`
(the local executor has no containers; the docker executor no host commands): the step
fails with that message, so a setting that sends work to the wrong executor is plain.

Executors are picked by name from the table in `executors/__init__.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, TypeAlias

from tidegate.errors import StepFailed
from tidegate.executors.container_spec import ContainerRun

Stream: TypeAlias = Literal["stdout", "stderr"]
StopReason: TypeAlias = Literal["timeout", "cancel"] | None


@dataclass
class LogLine:
    """One line of a step's output, timestamped (UTC) when it arrived."""

    ts: datetime
    stream: Stream
    text: str


@dataclass
class CommandSpec:
    """What to run. `env` is the whole environment: executors add only their own
    bookkeeping to it (the local executor's TIDEGATE_STEP_KEY, see ledger.py)."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None = None
    timeout: float | None = None  # seconds; None waits forever


@dataclass
class Outcome:
    """How a command ended.

    `exit_code` is the command's status (negative: killed by that signal), or None when
    it never started. `timed_out` and `cancelled` say that we stopped it.
    """

    exit_code: int | None
    timed_out: bool = False
    cancelled: bool = False

    @classmethod
    def stopped(cls, exit_code: int | None, stop: StopReason) -> Outcome:
        """The outcome of work that ended by itself (`stop` None) or that we stopped."""
        return cls(exit_code=exit_code, timed_out=stop == "timeout", cancelled=stop == "cancel")


LineSink: TypeAlias = Callable[[LogLine], Awaitable[None]] | Callable[[LogLine], None]
# Given a leftover's labels (`tidegate.run`, `tidegate.kind`, …): whether to keep it.
Keep: TypeAlias = Callable[[Mapping[str, str]], bool]


class ServiceFailed(StepFailed):
    """The service did not start or never became ready."""


class Unsupported(StepFailed):
    """This executor cannot do this kind of work."""


@dataclass(frozen=True)
class ServiceHandle:
    """A started service container. `network` is its network mode (`host`, `none`, a name)."""

    name: str
    container_id: str
    image: str
    network: str
    labels: Mapping[str, str] = field(default_factory=dict)


class ExecutorSettings(Protocol):
    """What executors read from the server's settings (`config.Settings` has it all)."""

    @property
    def data_dir(self) -> Path: ...
    @property
    def db_url(self) -> str: ...
    @property
    def kill_grace(self) -> float: ...
    @property
    def docker_host(self) -> str: ...
    @property
    def default_network(self) -> str: ...
    @property
    def container_executor(self) -> str: ...


class Executor(Protocol):
    """Runs a step's work somewhere: the host, a container engine, a Kubernetes cluster."""

    name: str

    @classmethod
    def from_settings(cls, settings: ExecutorSettings) -> Executor | None:
        """The executor this server's settings describe; None when they configure none
        (the docker executor without a socket)."""
        ...

    async def run(self, spec: CommandSpec, on_line: LineSink, cancel: asyncio.Event) -> Outcome:
        """A host command: start → tail → wait → destroy, in one call.

        `on_line` gets every output line in arrival order, one call at a time (never
        concurrently); it may be sync or async. When `spec.timeout` passes or `cancel`
        is set, the command is stopped (gracefully first, then forcibly) and the
        outcome says which. A failing command is a normal outcome, not an exception;
        `run` raises only for our own failures (and `Unsupported`), and destroys what
        it started first.
        """
        ...

    async def run_container(
        self,
        run: ContainerRun,
        on_line: LineSink,
        cancel: asyncio.Event,
        auth: Mapping[str, str] | None = None,
    ) -> Outcome:
        """A container: pull → create → start → tail → wait → remove, as `run` does.

        `auth` is the registry credential for the pull (a docker config.json entry).
        """
        ...

    async def start_service(
        self,
        name: str,
        run: ContainerRun,
        labels: Mapping[str, str] | None = None,
        *,
        auth: Mapping[str, str] | None = None,
    ) -> ServiceHandle:
        """Start the service `name` without waiting for it; ServiceFailed (the user's)
        when its image or container is refused."""
        ...

    async def wait_ready(
        self,
        handle: ServiceHandle,
        *,
        tcp_port: int | None = None,
        command: list[str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        """Return once the service is ready; ServiceFailed naming what was waited for."""
        ...

    async def stop_service(self, handle: ServiceHandle) -> None:
        """Destroy the service. Idempotent."""
        ...

    async def reap(self, keep: Keep) -> list[str]:
        """Destroy what a crashed predecessor left running, but what `keep` accepts;
        returns the ids destroyed. What this executor runs now is never touched."""
        ...

    async def close(self, *, keep_services: bool = False) -> None:
        """Destroy everything still running for us (services too, unless
        `keep_services`: they resume with their runs after a restart) and release the
        executor's resources. Idempotent."""
        ...
