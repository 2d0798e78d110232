"""The step-kind contract: one module per kind, one signature, one table."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tidegate.engine.runtime import Runtime
from tidegate.events.model import ImageEvent

Log = Callable[[str, str], Awaitable[None]]  # (stream, text)


@dataclass
class StepContext:
    """Everything one attempt of one step may use."""

    runtime: Runtime
    run_id: str
    run_url: str
    run_status: str  # known in `finally`; "running" elsewhere
    engine_error: bool
    job_id: str
    index: int
    event: ImageEvent
    spec: Any  # the kind's model from the workflow schema
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


class StepKind(Protocol):
    """Runs one attempt of a step.

    Returns normally when the step succeeded; raises `StepFailed` when the user's step
    failed (exit code, timeout: status "timed_out", rejection). Any other exception is
    an engine error. A kind must honour `ctx.cancel` and `ctx.timeout`.
    """

    name: str

    async def execute(self, ctx: StepContext) -> None: ...
