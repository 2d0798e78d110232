"""`${{ }}` in shell scripts: every value reaches the shell as an environment variable.

The text a POSIX shell runs never holds a value: each `${{ EXPR }}` of a script becomes
a reference to a variable TIDEGATE_EXPR_<n> (n counts from 1 by position), and the
engine renders EXPR into that variable. A small lexer picks the reference for the
quoting at that point, so the value arrives as one intact word:

    bare word               "${TIDEGATE_EXPR_1}"
    "…", unquoted heredoc   ${TIDEGATE_EXPR_1}
    '…'                     '…'"${TIDEGATE_EXPR_1}"'…'
    $'…'                    $'…'"${TIDEGATE_EXPR_1}"$'…'

Refused with UnsafeScript: a quoted heredoc body (the shell expands nothing there, so
only splicing could show the value), arithmetic (bash evaluates a variable's value
there, command substitutions in subscripts included), a backslash right before `${{`,
and a heredoc delimiter made of `${{ }}`. Where the lexer misreads a script, a
reference may come out as text or split into words; the value is never script text.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from tidegate.errors import ExpressionError, WorkflowError
from tidegate.workflows.expr import Template, compile_template
from tidegate.workflows.shell_lexer import classify
from tidegate.workflows.shell_refs import Refusal

PREFIX = "TIDEGATE_EXPR_"
POSIX_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash"})

_OPEN, _CLOSE = "${{", "}}"
_LONG_WITH_VALUE = frozenset({"--rcfile", "--init-file"})


class UnsafeScript(WorkflowError):
    """A `${{ }}` stands where its value cannot reach the shell safely and intact."""

    def __init__(self, message: str, *, line: int = 1, column: int = 1) -> None:
        self.line = line  # 1-based, of the `${{` within the script
        self.column = column
        super().__init__(message)


@dataclass(frozen=True)
class ShellScript:
    """A script with every `${{ }}` replaced by a reference to one of `variables`."""

    text: str
    variables: Mapping[str, Template] = field(default_factory=dict)

    def environment(self, render: Callable[[str], str]) -> dict[str, str]:
        """Each variable's value, rendered with `render` (a step's `ctx.render`)."""
        values = {name: render(template.source) for name, template in self.variables.items()}
        for name, value in values.items():
            if "\0" in value:
                source = self.variables[name].source
                raise ExpressionError(f"'{source}' gives a NUL character: no variable can hold it")
        return values


def is_posix_shell(shell: str | None) -> bool:
    """True for the default shell and a `shell:` whose first word is sh, bash, dash, …"""
    if shell is None:
        return True
    try:
        words = shlex.split(shell)
    except ValueError:
        return False
    return bool(words) and posixpath.basename(words[0]) in POSIX_SHELLS


def shell_script_index(argv: Sequence[str]) -> int | None:
    """Where the script is in a shell-form argv (`sh -c SCRIPT`, `bash -euxc SCRIPT`)."""
    if not argv or posixpath.basename(argv[0]) not in POSIX_SHELLS:
        return None
    has_c = False
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-", "--"):
            i += 1
            break
        if arg.startswith("--"):
            i += 2 if arg in _LONG_WITH_VALUE else 1
        elif len(arg) > 1 and arg[0] in "-+":
            has_c = has_c or (arg[0] == "-" and "c" in arg)
            i += 1 + arg.count("o") + arg.count("O")  # `-o NAME` and `-O NAME` take a value
        else:
            break
    return i if has_c and i < len(argv) else None


def compile_run_script(source: str, shell: str | None) -> ShellScript:
    """The script a `run:` step hands its shell; UnsafeScript when `${{ }}` cannot be safe."""
    if _OPEN not in source:
        return ShellScript(source)
    if is_posix_shell(shell):
        return compile_shell_script(source)
    start = source.index(_OPEN)
    end = source.find(_CLOSE, start)
    shown = source[start : end + 2] if end != -1 else _OPEN
    line, column = _position(source, start)
    raise UnsafeScript(
        f"{shown} cannot be put safely into a script for `{shell}`: only POSIX shells "
        f"({', '.join(sorted(POSIX_SHELLS))}) get values as variables; read it from the "
        'environment instead, e.g. os.environ["TIDEGATE_PUSHER"], or set a variable with '
        "the step's env: (TAG: ${{ event.tag }})",
        line=line,
        column=column,
    )


@dataclass(frozen=True)
class RenderedCommand:
    """A container's entrypoint and command, rendered, and the variables they need."""

    entrypoint: list[str] | None
    command: list[str] | None
    env: dict[str, str]


def render_command(
    entrypoint: Sequence[str] | None,
    command: Sequence[str] | None,
    render: Callable[[str], str],
) -> RenderedCommand:
    """Render `entrypoint + command`; in shell form the script gets variables.

    Exec-form arguments are interpolated as text: no shell parses them. (A program
    that runs an argument as code, such as `python3 -c`, must read values from `env`.)
    """
    head, tail = list(entrypoint or []), list(command or [])
    argv = head + tail
    at = shell_script_index(argv)
    env: dict[str, str] = {}
    rendered: list[str] = []
    for i, arg in enumerate(argv):
        if i == at:
            script = compile_shell_script(arg)
            rendered.append(script.text)
            env = script.environment(render)
        else:
            rendered.append(render(arg))
    return RenderedCommand(
        entrypoint=rendered[: len(head)] if entrypoint else None,
        command=rendered[len(head) :] if command else None,
        env=env,
    )


@dataclass(frozen=True)
class _Mark:
    at: int  # where the expression stood in the script with every expression removed
    offset: int  # where its `${{` is in the source
    source: str  # `${{ … }}` as written


def _split(source: str) -> tuple[str, list[_Mark]]:
    """The script without its expressions, and where each stood (as compile_template)."""
    parts: list[str] = []
    marks: list[_Mark] = []
    pos = length = 0
    while (start := source.find(_OPEN, pos)) != -1:
        end = source.find(_CLOSE, start + len(_OPEN))
        if end == -1:
            raise ExpressionError(f"unterminated '${{{{' in '{source}': add '}}}}'")
        parts.append(source[pos:start])
        length += start - pos
        marks.append(_Mark(length, start, source[start : end + len(_CLOSE)]))
        pos = end + len(_CLOSE)
    parts.append(source[pos:])
    return "".join(parts), marks


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


@lru_cache(maxsize=1024)
def compile_shell_script(source: str) -> ShellScript:
    """Rewrite a POSIX shell script's `${{ }}` into variables (see the module docstring).

    Raises ExpressionError for an expression that does not compile, UnsafeScript for one
    that stands where no reference can carry its value (the first such, by position).
    """
    if _OPEN not in source:
        return ShellScript(source)
    text, marks = _split(source)
    variables = {f"{PREFIX}{n}": compile_template(m.source) for n, m in enumerate(marks, 1)}
    choices = classify(text, [m.at for m in marks])
    out: list[str] = []
    pos = 0
    for mark, name, choice in zip(marks, variables, choices, strict=True):
        if isinstance(choice, Refusal):
            line, column = _position(source, mark.offset)
            where = f"script line {line}: " if "\n" in source else ""
            message = f"{where}{mark.source} {choice.why}"
            raise UnsafeScript(message, line=line, column=column)
        out.append(text[pos : mark.at])
        out.append(choice.replace("V", name))
        pos = mark.at
    out.append(text[pos:])
    return ShellScript("".join(out), variables)
