"""The one table of step kinds. Adding a kind is one module plus one line here."""

from __future__ import annotations

from tidegate.engine.steps.base import StepContext, StepKind
from tidegate.engine.steps.callback import CallbackStep
from tidegate.engine.steps.container import ContainerStep
from tidegate.engine.steps.notify import NotifyStep
from tidegate.engine.steps.promote import PromoteStep
from tidegate.engine.steps.run import RunStep

STEP_KINDS: dict[str, StepKind] = {
    "run": RunStep(),
    "callback": CallbackStep(),
    "container": ContainerStep(),
    "notify": NotifyStep(),
    "promote": PromoteStep(),
}

__all__ = ["STEP_KINDS", "StepContext", "StepKind"]
