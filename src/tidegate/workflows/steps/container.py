"""`container:` run a command in a container (the image is usually `${{ event.image }}`)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from tidegate.workflows.fields import Env, MemorySize, Text
from tidegate.workflows.model import checked_command
from tidegate.workflows.steps.base import StepKindSpec, StepSpec


class ContainerSpec(StepSpec):
    """Run a command in a container (the image is usually `${{ event.image }}`)."""

    image: Text = "${{ event.image }}"
    command: list[Text] | None = None
    entrypoint: list[Text] | None = None
    env: Env = {}
    workdir: Text | None = None
    user: str | None = None
    network: str | None = None
    memory: MemorySize | None = None
    cpus: float | None = Field(default=None, gt=0)
    pids: int | None = Field(default=None, gt=0)
    pull: Annotated[
        Literal["always", "if-missing", "never"],
        # "missing" is accepted for "if-missing", the spelling of several CI tools.
        BeforeValidator(lambda v: "if-missing" if v == "missing" else v),
    ] = "if-missing"

    @model_validator(mode="after")
    def _safe_script(self) -> Self:
        return checked_command(self, "ContainerSpec")


KIND = StepKindSpec("container", ContainerSpec)
