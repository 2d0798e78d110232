"""Executors: where a step's work runs, picked by name from the one table.

Adding one is a module (a class with the `Executor` methods and `from_settings`) and
its row in `EXECUTORS`; docs/contributing.md walks through it.
"""

from __future__ import annotations

from tidegate.errors import TidegateError
from tidegate.executors.base import (
    CommandSpec,
    Executor,
    ExecutorSettings,
    LineSink,
    LogLine,
    Outcome,
    Unsupported,
)
from tidegate.executors.docker import DockerExecutor
from tidegate.executors.local import LocalExecutor, shell_argv

EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor, "docker": DockerExecutor}

# Host commands (`run` steps) go to this one; container work (`container` steps and
# services) to the executor TIDEGATE_CONTAINER_EXECUTOR names.
HOST_EXECUTOR = "local"


class UnknownExecutor(TidegateError):
    """No executor has that name."""


def build_executors(settings: ExecutorSettings) -> dict[str, Executor]:
    """Every executor the settings configure, by name (docker only with a socket).

    `settings.container_executor` must name a row of the table, configured here or not
    (an unconfigured one fails the steps that need it, saying what to set).
    """
    if settings.container_executor not in EXECUTORS:
        raise UnknownExecutor(
            f"TIDEGATE_CONTAINER_EXECUTOR is {settings.container_executor!r}: "
            f"use one of {', '.join(EXECUTORS)}"
        )
    built = {name: kind.from_settings(settings) for name, kind in EXECUTORS.items()}
    return {name: executor for name, executor in built.items() if executor is not None}


__all__ = [
    "EXECUTORS",
    "HOST_EXECUTOR",
    "CommandSpec",
    "Executor",
    "LineSink",
    "LocalExecutor",
    "LogLine",
    "Outcome",
    "UnknownExecutor",
    "Unsupported",
    "build_executors",
    "shell_argv",
]
