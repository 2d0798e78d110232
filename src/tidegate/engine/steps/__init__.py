"""The engine's table of step kinds: each row runs the kind of the same name in the
workflows' table (`tidegate.workflows.STEP_KINDS`, which builds the schema).

Adding a kind is its spec module and row there, and its module and row here; see
docs/contributing.md. The two tables must name the same kinds: checked on import.
"""

from __future__ import annotations

from typing import Any

from tidegate.engine.steps.base import StepContext, StepKind
from tidegate.engine.steps.callback import CallbackStep
from tidegate.engine.steps.container import ContainerStep
from tidegate.engine.steps.notify import NotifyStep
from tidegate.engine.steps.promote import PromoteStep
from tidegate.engine.steps.run import RunStep
from tidegate.workflows import STEP_KINDS as SPECS

STEP_KINDS: dict[str, StepKind[Any, Any]] = {
    kind.name: kind
    for kind in (RunStep(), CallbackStep(), ContainerStep(), NotifyStep(), PromoteStep())
}

if STEP_KINDS.keys() != SPECS.keys():  # a kind half added: fail at once, not at its first run
    raise ImportError(
        f"step kinds without code: {sorted(SPECS.keys() - STEP_KINDS.keys())}; "
        f"code without a spec: {sorted(STEP_KINDS.keys() - SPECS.keys())}"
    )

__all__ = ["STEP_KINDS", "StepContext", "StepKind"]
