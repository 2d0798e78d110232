"""The step-kind contract: one module per kind, one signature, one table.

A kind's spec model is in `workflows/steps/<kind>.py` (validating a workflow needs it,
and the workflows package may not import the engine); its code is here, in
`engine/steps/<kind>.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from tidegate.engine.capabilities import Capabilities
from tidegate.errors import StepFailed
from tidegate.executors.base import LogLine, Outcome, StopReason
from tidegate.image_event import ImageEvent
from tidegate.status import Status

Log = Callable[[str, str], Awaitable[None]]  # (stream, text)

S = TypeVar("S")  # the kind's spec model (workflows/steps/<kind>.py)
C = TypeVar("C")  # the capability it takes (engine/capabilities.py)


@dataclass
class StepContext(Generic[S, C]):
    """Everything one attempt of one step may use."""

    caps: C  # what the kind may do in the world, and only that
    run_id: str
    run_url: str
    run_status: str  # known in `finally`; "running" elsewhere
    engine_error: bool
    job_id: str
    index: int
    event: ImageEvent
    spec: S
    env: dict[str, str]  # TIDEGATE_*, workflow, job and step env, already rendered
    render: Callable[[str], str]  # `${{ }}` interpolation in this step's context
    timeout: float
    cwd: Path
    workspace: Path
    cancel: asyncio.Event
    log: Log
    notes: dict[str, Any] = field(default_factory=dict)

    async def info(self, text: str) -> None:
        """A line from Tidegate itself, told apart from the step's own output."""
        await self.log("system", text)


class StepKind(Protocol[S, C]):
    """Runs one attempt of a step.

    Returns normally when the step succeeded; raises `StepFailed` when the user's step
    failed (exit code, timeout: status "timed_out", rejection). Any other exception is
    an engine error. A kind must honour `ctx.cancel` and `ctx.timeout`.
    """

    name: str

    def grant(self, caps: Capabilities) -> C:
        """The capability this kind uses, out of all there are."""
        ...

    async def execute(self, ctx: StepContext[S, C]) -> None: ...


def to_log(ctx: StepContext[Any, Any]) -> Callable[[LogLine], Awaitable[None]]:
    """An executor's line sink writing into the step's log."""

    async def on_line(line: LogLine) -> None:
        await ctx.log(line.stream, line.text)

    return on_line


def stopped(ctx: StepContext[Any, Any], reason: StopReason) -> StepFailed:
    """The failure of a step we stopped: cancelled, or past its timeout."""
    if reason == "cancel":
        return StepFailed("cancelled", status=Status.CANCELLED)
    return StepFailed(f"timed out after {ctx.timeout:g}s", status=Status.TIMED_OUT)


def judge(ctx: StepContext[Any, Any], outcome: Outcome, what: str) -> None:
    """Note the exit code; raise the step's failure unless `what` exited 0."""
    ctx.notes["exit_code"] = outcome.exit_code
    if outcome.cancelled:
        raise stopped(ctx, "cancel")
    if outcome.timed_out:
        raise stopped(ctx, "timeout")
    if outcome.exit_code is None:
        raise StepFailed(f"the {what} did not run (its reason is in the log)")
    if outcome.exit_code != 0:
        raise StepFailed(f"exit code {outcome.exit_code}")
