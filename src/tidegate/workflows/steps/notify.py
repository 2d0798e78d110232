"""`notify:` send a message to Apprise URLs when the run ends in one of `when`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tidegate.workflows.fields import Text
from tidegate.workflows.steps.base import StepKindSpec, StepSpec


class NotifySpec(StepSpec):
    """Send a message to Apprise URLs when the run ends in one of `when`."""

    urls: list[Text] = Field(min_length=1)
    when: list[Literal["success", "failure", "approval", "always", "cancelled"]] = Field(
        default=["always"], min_length=1
    )
    title: Text | None = None
    body: Text | None = None


KIND = StepKindSpec("notify", NotifySpec)
