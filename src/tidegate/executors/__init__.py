"""Executors: where a step's commands run, picked by name."""

from __future__ import annotations

from tidegate.executors.base import CommandSpec, Executor, LineSink, LogLine, Outcome
from tidegate.executors.local import LocalExecutor, shell_argv

EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor}

__all__ = [
    "EXECUTORS",
    "CommandSpec",
    "Executor",
    "LineSink",
    "LocalExecutor",
    "LogLine",
    "Outcome",
    "shell_argv",
]
