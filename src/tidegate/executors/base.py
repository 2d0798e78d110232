"""The executor plug-in contract: where a step's command runs.

An executor follows woodpecker's backend lifecycle (setup, start, tail, wait, destroy),
folded into one call: `run` starts the command, tails its output line by line into
`on_line`, waits for it to end, and destroys whatever it started (processes, containers,
pods) before returning, whatever happened: exit, timeout, cancel, or an error of ours.
Destroying is idempotent, so `close` may destroy again what `run` already cleaned up.

Executors are picked by name from the table in `executors/__init__.py`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TypeAlias

Stream: TypeAlias = Literal["stdout", "stderr"]


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


LineSink: TypeAlias = Callable[[LogLine], Awaitable[None]] | Callable[[LogLine], None]


class Executor(Protocol):
    """Runs commands somewhere: the host, a container, a Kubernetes Job."""

    async def run(self, spec: CommandSpec, on_line: LineSink, cancel: asyncio.Event) -> Outcome:
        """Start → tail → wait → destroy, in one call.

        `on_line` gets every output line in arrival order, one call at a time (never
        concurrently); it may be sync or async. When `spec.timeout` passes or `cancel`
        is set, the command is stopped (gracefully first, then forcibly) and the
        outcome says which. A failing command is a normal outcome, not an exception;
        `run` raises only for our own failures, and destroys what it started first.
        """
        ...

    async def close(self) -> None:
        """Release the executor's resources and destroy anything still running."""
        ...


async def emit_line(on_line: LineSink, line: LogLine) -> None:
    """Hand `line` to a sink that may be sync or async."""
    result = on_line(line)
    if inspect.isawaitable(result):
        await result


async def consume_lines(queue: asyncio.Queue[LogLine | None], on_line: LineSink) -> None:
    """Hand the queue's lines to `on_line` in order, until a None."""
    while (line := await queue.get()) is not None:
        await emit_line(on_line, line)
