"""What every workflow model shares: the base model, and our own checks' problems.

Our checks report `Issue`s, located relative to the model checking them; `invalid`
turns them into a pydantic ValidationError, which pydantic merges into the outer one
with the locations prefixed, so a cross-field problem is still located precisely.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from tidegate.errors import ExpressionError
from tidegate.workflows.shell import UnsafeScript, compile_shell_script, shell_script_index

Loc = tuple[int | str, ...]


class Issue(NamedTuple):
    """One problem found by our own checks, located relative to the model checking it."""

    loc: Loc
    message: str
    input: object = None
    type: str = "workflow"
    at: tuple[int, int] | None = None  # (line, column) within a string value, 1-based


def invalid(title: str, errors: Sequence[ErrorDetails | Issue]) -> ValidationError:
    """One ValidationError of pydantic's errors and ours, to raise from a validator."""
    details: list[InitErrorDetails] = []
    for e in errors:
        if isinstance(e, Issue):
            at = {"script_line": e.at[0], "script_column": e.at[1]} if e.at else None
            kind = PydanticCustomError(e.type, e.message, at)
            details.append({"type": kind, "loc": e.loc, "input": e.input})
        else:
            kind = PydanticCustomError(e["type"], e["msg"], e.get("ctx"))
            details.append({"type": kind, "loc": e["loc"], "input": e["input"]})
    return ValidationError.from_exception_data(title, details)


def unsafe(loc: Loc, source: str, compile_script: Callable[[str], object]) -> list[Issue]:
    """The problem of a script whose `${{ }}` cannot reach its shell as a variable."""
    if "${{" not in source:
        return []
    try:
        compile_script(source)
    except UnsafeScript as exc:
        return [Issue(loc, exc.message, source, "unsafe_script", (exc.line, exc.column))]
    except ExpressionError:
        pass  # reported where the value stands, by its own check
    return []


def shell_form(entrypoint: list[str] | None, command: list[str] | None) -> tuple[Loc, str] | None:
    """Where the script of a shell-form `entrypoint + command` is, and the script."""
    head = entrypoint or []
    argv = [*head, *(command or [])]
    at = shell_script_index(argv)
    if at is None:
        return None
    return (("entrypoint", at) if at < len(head) else ("command", at - len(head))), argv[at]


def command_issues(entrypoint: list[str] | None, command: list[str] | None) -> list[Issue]:
    found = shell_form(entrypoint, command)
    return unsafe(found[0], found[1], compile_shell_script) if found else []


class _Commanded(Protocol):
    @property
    def entrypoint(self) -> list[str] | None: ...
    @property
    def command(self) -> list[str] | None: ...


C = TypeVar("C", bound=_Commanded)


def checked_command(model: C, title: str) -> C:
    """`model` (a container step, a service) once its `entrypoint` and `command` are safe
    (see `command_issues`); else their issues, as a validation error of `title`."""
    issues = command_issues(model.entrypoint, model.command)
    if issues:
        raise invalid(title, issues)
    return model


class Model(BaseModel):
    """Frozen, and strict about keys: an unknown key is named, with the likely fix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _explain_unknown_keys(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # pydantic says "Extra inputs are not permitted"; name the key and the likely fix.
        try:
            return handler(data)
        except ValidationError as exc:
            errors = exc.errors()
            own = [e for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
            if not own:
                raise
            known = [f.alias or name for name, f in cls.model_fields.items()]
            rebuilt: list[ErrorDetails | Issue] = []
            for e in errors:
                if e in own:
                    key = str(e["loc"][0])
                    close = difflib.get_close_matches(key, known, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    message = f"unknown key {key!r}{hint}"
                    rebuilt.append(Issue(e["loc"], message, e["input"], "unknown_key"))
                else:
                    rebuilt.append(e)
            raise invalid(cls.__name__, rebuilt) from None
