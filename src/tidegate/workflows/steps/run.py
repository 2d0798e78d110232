"""`run:` a host shell script; `shell:` and `working_directory:` sit beside it in the step."""

from __future__ import annotations

import shlex

from tidegate.workflows.fields import Text
from tidegate.workflows.model import Issue, unsafe
from tidegate.workflows.shell import compile_run_script
from tidegate.workflows.steps.base import Fields, StepKindSpec, StepSpec


class RunSpec(StepSpec):
    """A host shell step: the script, optionally its shell and working directory."""

    script: Text
    shell: str | None = None
    working_directory: Text | None = None

    def summary(self) -> str:
        first = self.script.strip().splitlines()[0] if self.script.strip() else ""
        return first[:80]


def _spec(values: Fields) -> RunSpec:
    # Already validated as the step's fields: only gathered here.
    return RunSpec.model_construct(
        script=values["run"], shell=values["shell"], working_directory=values["working_directory"]
    )


def _check(values: Fields) -> list[Issue]:
    """A shell that is no command, and `${{ }}` the script cannot get as a variable."""
    shell = values["shell"]
    if shell is not None:
        try:
            words = shlex.split(shell)
        except ValueError as exc:
            words, why = [], f": {exc}"
        else:
            why = ""
        if not words:
            message = f"shell {shell!r} is not a command such as `bash` or `python3 -c`"
            return [Issue(("shell",), message + why, shell)]
    return unsafe(("run",), values["run"], lambda s: compile_run_script(s, shell))


KIND = StepKindSpec(
    "run",
    RunSpec,
    fields={
        "run": (Text | None, None),
        "shell": (str | None, None),
        "working_directory": (Text | None, None),
    },
    build=_spec,
    check=_check,
)
