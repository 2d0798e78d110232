"""The one table of step kinds, as workflow files write them.

A kind's spec model and row live in `workflows/steps/<kind>.py`; its code in
`engine/steps/<kind>.py`, with a row in the engine's table of the same name. The
spec cannot sit next to the code: validating a workflow (the loader, `tidegate
validate`, the web UI) needs every kind's model, and nothing here may import the
engine. docs/contributing.md walks through adding one.
"""

from __future__ import annotations

from tidegate.workflows.steps import callback, container, notify, promote, run
from tidegate.workflows.steps.base import StepKindSpec, StepSpec
from tidegate.workflows.steps.callback import CallbackSpec
from tidegate.workflows.steps.container import ContainerSpec
from tidegate.workflows.steps.notify import NotifySpec
from tidegate.workflows.steps.promote import PromoteSpec
from tidegate.workflows.steps.run import RunSpec

# In this order in the schema, and in "a step needs exactly one of …".
STEP_KINDS: dict[str, StepKindSpec] = {
    kind.key: kind for kind in (run.KIND, container.KIND, promote.KIND, callback.KIND, notify.KIND)
}

__all__ = [
    "STEP_KINDS",
    "CallbackSpec",
    "ContainerSpec",
    "NotifySpec",
    "PromoteSpec",
    "RunSpec",
    "StepKindSpec",
    "StepSpec",
]
