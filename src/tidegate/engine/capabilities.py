"""What a step kind may use of the process, one small capability each.

A kind names the one it takes (`StepKind.grant`), and its code sees only that, never
the Runtime: a `run` step can start host commands and nothing else; a `promote` step
reaches registries and records promotions, but starts no process.

Which executor does a step's work is chosen here, by name from the Runtime's table:
host commands go to `HOST_EXECUTOR`, container work to `settings.container_executor`.
`runs_on` (not yet a workflow key) overrides both, so a workflow's `runs-on:` can pick
an executor later without touching the step kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tidegate.engine.runtime import Runtime
from tidegate.executors import HOST_EXECUTOR, Executor
from tidegate.registry import RegistryClient
from tidegate.registry.reach import Reach
from tidegate.security.allowlist import AllowList
from tidegate.store.db import Database


@dataclass(frozen=True)
class Commands:
    """Host commands (`run` steps)."""

    executor: Executor


@dataclass(frozen=True)
class Containers:
    """Containers (`container` steps, a job's services). `executor` None: no container
    engine is configured. The limits apply to a step that sets none."""

    executor: Executor | None
    pull_auth: Callable[[str], dict[str, str] | None]  # the registry credential of an image
    host_env: Mapping[str, str]  # the server's inherited variables (kept out of containers)
    memory: str | None
    cpus: float | None
    pids: int | None


@dataclass(frozen=True)
class Registries:
    """Registries Tidegate itself talks to (`promote`), and the run's records of it."""

    db: Database  # the run's approvers; its promotions
    bound: Callable[[str], list[str]]  # an event's bound registries (blocking: a query)
    reach: Callable[[Sequence[str]], Reach]
    client: Callable[[Sequence[str]], RegistryClient]


@dataclass(frozen=True)
class Outbound:
    """Messages to the world (`callback`, `notify`), and the run's delivery records."""

    db: Database
    callback_allow: AllowList
    notify_allow: AllowList
    timeout: float
    callback_attempts: int
    callback_backoff: float


@dataclass(frozen=True)
class Capabilities:
    """Every capability there is; a kind's `grant` takes the one it uses."""

    commands: Commands
    containers: Containers
    registries: Registries
    outbound: Outbound


def capabilities(runtime: Runtime, runs_on: str | None = None) -> Capabilities:
    settings = runtime.settings
    executors = runtime.executors
    return Capabilities(
        commands=Commands(executors[runs_on or HOST_EXECUTOR]),
        containers=Containers(
            executor=executors.get(runs_on or settings.container_executor),
            pull_auth=runtime.pull_auth,
            host_env=runtime.host_env,
            memory=settings.default_memory or None,
            cpus=settings.default_cpus,
            pids=settings.default_pids,
        ),
        registries=Registries(
            db=runtime.db,
            bound=runtime.bound_registries,
            reach=runtime.reach,
            client=runtime.registry_client,
        ),
        outbound=Outbound(
            db=runtime.db,
            callback_allow=runtime.callback_allow,
            notify_allow=runtime.notify_allow,
            timeout=settings.outbound_timeout,
            callback_attempts=settings.callback_attempts,
            callback_backoff=settings.callback_backoff,
        ),
    )
