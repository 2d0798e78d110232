"""How a step kind is written in a workflow file: its spec model and its row.

The `Step` model (workflows/schema.py) is built from the rows of `STEP_KINDS`: each
row adds its fields to the step, and says how the engine's spec is made from them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tidegate.workflows.model import Issue, Model

Fields = Mapping[str, Any]  # a kind's fields of one step, by name


class StepSpec(Model):
    """The model of one step kind: what the engine hands that kind (`Step.spec`)."""

    def summary(self) -> str:
        """A short form of what the step does, for a step without a `name`."""
        return ""


def _own_value(key: str) -> Callable[[Fields], StepSpec]:
    def spec(values: Fields) -> StepSpec:
        found: StepSpec = values[key]
        return found

    return spec


@dataclass(frozen=True)
class StepKindSpec:
    """One row of the step-kind table.

    `key` is the kind's key in a step (`container:`). `fields` are the step fields the
    kind owns, as pydantic field definitions (annotation, default), its key first;
    by default just the key, holding the spec model. `build` makes the spec from
    those fields' values (by default the key's value); `check` finds problems across
    them. `finally_only` says why the kind may stand only under `finally:` (empty: it
    may stand anywhere).
    """

    key: str
    spec: type[StepSpec]
    fields: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    build: Callable[[Fields], StepSpec] | None = None
    check: Callable[[Fields], list[Issue]] | None = None
    finally_only: str = ""

    def __post_init__(self) -> None:
        if not self.fields:
            object.__setattr__(self, "fields", {self.key: (self.spec | None, None)})
        if self.build is None:
            object.__setattr__(self, "build", _own_value(self.key))

    def make_spec(self, values: Fields) -> StepSpec:
        assert self.build is not None  # set in __post_init__
        return self.build(values)
