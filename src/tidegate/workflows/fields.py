"""Field types shared by the workflow models: durations, templates, conditions, patterns.

Each checks its value where it stands, so a bad value's error carries that value's own
location and the loader can point at the exact line and column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from tidegate.errors import ExpressionError, NotFound, WorkflowError
from tidegate.events.sources import SOURCES, known_source
from tidegate.workflows.expr import compile_condition, compile_template
from tidegate.workflows.patterns import compile_glob, compile_tag_pattern

_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(rf"(?:({_NUMBER})d)?(?:({_NUMBER})h)?(?:({_NUMBER})m)?(?:({_NUMBER})s)?")
_DURATION_UNITS = (86400, 3600, 60, 1)
_DURATION_HINT = "use e.g. 30s, 5m, 1h30m, 72h, 2d or a number of seconds"


def parse_duration(value: object) -> float:
    """ "30s", "5m", "1h30m", "2d" or a number of seconds, as float seconds (> 0)."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(_NUMBER, text):
            seconds = float(text)
        elif text and (m := _DURATION.fullmatch(text)):
            seconds = sum(
                float(n) * unit for n, unit in zip(m.groups(), _DURATION_UNITS, strict=True) if n
            )
    if seconds is None:
        raise PydanticCustomError("duration", f"invalid duration {value!r}: {_DURATION_HINT}")
    if seconds <= 0:
        raise PydanticCustomError("duration", f"a duration must be positive, got {value!r}")
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\d+(\.\d+)?[dhms])+$|^\d+(\.\d+)?$"},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "description": _DURATION_HINT,
        }
    ),
]


def _check_template(value: str) -> str:
    return _compiles(compile_template, value) if "${{" in value else value


def _check_condition(value: str) -> str:
    return _compiles(compile_condition, value)


def _compiles(compile_expression: Callable[[str], object], value: str) -> str:
    """`value`, once it compiles; else the compiler's message as a validation error."""
    try:
        compile_expression(value)
    except ExpressionError as exc:
        raise PydanticCustomError("expression", exc.message) from exc
    return value


def _scalar_text(value: Any) -> Any:
    # YAML reads `DEBUG: true` and `PORT: 8080` as bool and int; env values are text.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _checked(check: Callable[[str], object], kind: str) -> AfterValidator:
    """Run a compile step as validation; its WorkflowError becomes a field error."""

    def validate(value: str) -> str:
        try:
            check(value)
        except WorkflowError as exc:
            raise PydanticCustomError(kind, exc.message) from exc
        return value

    return AfterValidator(validate)


def _check_source(value: str) -> str:
    """A name in the source table (events/sources/__init__.py)."""
    try:
        known_source(value)
    except NotFound as exc:
        raise WorkflowError(exc.message) from None
    return value


def _check_repository(value: str) -> str:
    if not value or value != value.strip() or value.startswith("/") or value.endswith("/"):
        raise WorkflowError(f"invalid repository glob {value!r}: write namespace/name globs")
    compile_glob(value)
    return value


Text = Annotated[str, AfterValidator(_check_template)]
"""A string that may hold `${{ }}` interpolation, checked at load time."""

CelExpr = Annotated[str, BeforeValidator(_scalar_text), AfterValidator(_check_condition)]
"""A CEL condition (`if:`); YAML `true`/`false` are accepted as the CEL literals."""

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
EnvValue = Annotated[str, BeforeValidator(_scalar_text), AfterValidator(_check_template)]
Env = dict[EnvName, EnvValue]


# "finally" names the run's `finally:` steps in records and logs, so no job may take it.
def _not_finally(value: str) -> str:
    if value == "finally":
        raise ValueError(
            "'finally' is reserved for the run's finally steps; name the job otherwise"
        )
    return value


JobId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$"),
    AfterValidator(_not_finally),
]
StepId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")]
WorkflowName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100)
]
Approver = Annotated[
    str, StringConstraints(pattern=r"^(group:)?[A-Za-z0-9][A-Za-z0-9._@+-]*$", max_length=200)
]
Port = Annotated[
    str,
    BeforeValidator(_scalar_text),
    StringConstraints(pattern=r"^\d{1,5}(:\d{1,5})?(/(tcp|udp))?$"),
]
MemorySize = Annotated[
    str, BeforeValidator(_scalar_text), StringConstraints(pattern=r"^\d+(\.\d+)?[bkmgBKMG]?$")
]

RepositoryGlob = Annotated[str, _checked(_check_repository, "repository")]
TagPattern = Annotated[str, _checked(compile_tag_pattern, "tag_pattern")]
RegistryGlob = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9.*?\[\]!-]+(:[0-9*?]+)?$"),
    _checked(compile_glob, "registry"),
]
SourceName = Annotated[
    str, _checked(_check_source, "source"), WithJsonSchema({"enum": list(SOURCES)})
]

TextList = Annotated[
    list[Text],
    BeforeValidator(_as_list),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]
"""A list of strings; a single string stands for a one-item list."""

Needs = Annotated[
    list[str],
    BeforeValidator(_as_list),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]
"""Job ids; a single string stands for a one-item list."""
