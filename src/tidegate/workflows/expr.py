"""Expressions: CEL conditions (`if:`) and `${{ CEL }}` interpolation in strings.

Contexts are plain dicts under the names in `CONTEXTS`: `event` (see `event_context`),
`run` ({id, status, url, workflow}), `jobs` ({job_id: {status}}), `env` and `secrets`.
Compiling checks the syntax and that every free name is one of those contexts, so a
typo such as `evnt.tag` fails when the workflow is loaded, not when it runs.

Compiled expressions are cached: the engine evaluates the same few strings often.
A template cannot contain a literal `}}` inside its expression (the first `}}` ends it).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError
from lark import Token, Tree

from tidegate.errors import ExpressionError
from tidegate.image_event import ImageEvent

# `job` is the current job ({"status": "running" or "failed"}), for a step's `if`.
CONTEXTS = ("env", "event", "job", "jobs", "run", "secrets")
_MACROS = frozenset({"all", "exists", "exists_one", "filter", "map"})
_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_ACTIVATION_TAIL = " (in activation"

_compile_lock = threading.Lock()  # celpy shares one Lark parser and stores the last program


@lru_cache(maxsize=1)
def _environment() -> celpy.Environment:
    """The CEL environment, made on the first compile: building its Lark grammar takes
    ~120 ms, which `tidegate validate` and the server pay once and other commands never."""
    return celpy.Environment()


_SCALARS = (
    celtypes.BoolType,
    celtypes.IntType,
    celtypes.UintType,
    celtypes.DoubleType,
    celtypes.StringType,
    celtypes.BytesType,
    celtypes.TimestampType,
    celtypes.DurationType,
)

# Python's scalar types and the CEL type each becomes, checked in this order: bool
# before int, since a bool is an int.
_CEL_TYPES: tuple[tuple[type, type], ...] = (
    (bool, celtypes.BoolType),
    (int, celtypes.IntType),
    (float, celtypes.DoubleType),
    (str, celtypes.StringType),
    (bytes, celtypes.BytesType),
    (datetime, celtypes.TimestampType),
    (timedelta, celtypes.DurationType),
)


def to_cel(value: object) -> Any:
    """Convert plain Python data (dict, list, str, int, float, bool, None) to CEL values."""
    if value is None or isinstance(value, _SCALARS):
        return value
    for plain, cel in _CEL_TYPES:
        if isinstance(value, plain):
            return cel(value)
    if isinstance(value, Mapping):
        return celtypes.MapType({to_cel(k): to_cel(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return celtypes.ListType([to_cel(v) for v in value])
    raise ExpressionError(f"a {type(value).__name__} cannot be used in an expression")


def event_context(event: ImageEvent) -> dict[str, str]:
    """The `event` context: every field as a string (`raw` left out) plus `image`."""
    ctx = {
        name: "" if value is None else value.isoformat() if isinstance(value, datetime) else value
        for name, value in event.model_dump(exclude={"raw"}).items()
    }
    ctx["image"] = event.image
    return {k: str(v) for k, v in ctx.items()}


def _bare(node: Tree[Token] | Token) -> Tree[Token] | Token:
    # The grammar wraps every expression in a chain of single-child precedence levels.
    while isinstance(node, Tree) and len(node.children) == 1 and node.data != "ident":
        node = node.children[0]
    return node


def _string_literal(node: Tree[Token] | Token) -> str | None:
    node = _bare(node)
    if isinstance(node, Tree) and node.data == "literal":
        node = node.children[0]
    if isinstance(node, Token) and node.type == "STRING_LIT":
        text = str(node)
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and "\\" not in text:
            return text[1:-1]
    return None


def _path(node: Tree[Token] | Token) -> list[str] | None:
    """`a.b["c"]` as ["a", "b", "c"]; None when the node is not a name path."""
    node = _bare(node)
    if not isinstance(node, Tree):
        return None
    if node.data in ("ident", "dot_ident"):
        return [str(node.children[0])]
    if node.data == "member_dot":
        base = _path(node.children[0])
        return [*base, str(node.children[1])] if base else None
    if node.data == "member_index":
        base = _path(node.children[0])
        key = _string_literal(node.children[1])
        return [*base, key] if base and key is not None else base
    return None


def _names(ast: Tree[Token]) -> frozenset[str]:
    """Dotted names the expression reads, without macro variables or shorter prefixes."""
    bound: set[str] = set()
    paths: set[tuple[str, ...]] = set()
    for sub in ast.iter_subtrees():
        if sub.data == "member_dot_arg" and str(sub.children[1]) in _MACROS:
            args = sub.children[2] if len(sub.children) > 2 else None
            if isinstance(args, Tree) and args.children:
                var = _bare(args.children[0])
                if isinstance(var, Tree) and var.data == "ident":
                    bound.add(str(var.children[0]))
        path = _path(sub)
        if path:
            paths.add(tuple(path))
    paths = {p for p in paths if p[0] not in bound}
    longest = {p for p in paths if not any(q[: len(p)] == p and q != p for q in paths)}
    return frozenset(".".join(p) for p in longest)


def _syntax_message(text: str, shown: str, exc: CELParseError) -> str:
    cause = exc.__context__
    token = getattr(cause, "token", None)
    char = getattr(cause, "char", None)
    column = exc.column or 1
    if token is not None and token.type == "$END":
        what, column = "end of expression", len(text) + 1
    elif token is not None:
        what = repr(str(token))
    elif char is not None:
        what = f"character {char!r}"
    else:
        what = "input"
    return f"invalid expression {shown}: unexpected {what} at column {column}"


@dataclass(frozen=True, eq=False)
class _Program:
    source: str
    names: frozenset[str]
    roots: frozenset[str]  # the contexts it reads; only these are converted to CEL
    runner: celpy.Runner

    def value(self, ctx: Mapping[str, object]) -> Any:
        activation = {k: to_cel(ctx[k]) for k in self.roots if k in ctx}
        try:
            result = self.runner.evaluate(activation)
        except (CELEvalError, TypeError, ValueError, ArithmeticError) as exc:
            raise ExpressionError(self._explain(exc, ctx)) from exc
        if isinstance(result, CELEvalError):
            raise ExpressionError(self._explain(result, ctx))
        return result

    def _explain(self, exc: Exception, ctx: Mapping[str, object]) -> str:
        missing = _undefined(self.names, ctx)
        if missing:
            return f"'{self.source}': {missing} is not defined"
        if "secrets" in self.roots:  # celpy messages can quote values; never a secret's
            return f"'{self.source}': evaluation failed"
        message = str(exc.args[0]) if exc.args else type(exc).__name__
        return f"'{self.source}': {message.split(_ACTIVATION_TAIL, 1)[0]}"


def _undefined(names: frozenset[str], ctx: Mapping[str, object]) -> str | None:
    for name in sorted(names):
        current: object = ctx
        parts = name.split(".")
        for i, part in enumerate(parts):
            if not isinstance(current, Mapping):
                break  # a method or index on a value: not a missing key
            if part not in current:
                return ".".join(parts[: i + 1])
            current = current[part]
    return None


def _compile(source: str, shown: str | None = None) -> _Program:
    """Compile CEL; `shown` is how messages quote it (a template shows its `${{ }}`)."""
    text = source.strip()
    shown = shown or f"'{text}'"
    if not text:
        raise ExpressionError(f"empty expression {shown}")
    with _compile_lock:
        env = _environment()
        try:
            ast = env.compile(text)
        except CELParseError as exc:
            raise ExpressionError(_syntax_message(text, shown, exc)) from exc
        runner = env.program(ast)
    names = _names(ast)
    roots = frozenset(n.split(".", 1)[0] for n in names)
    unknown = sorted(roots - set(CONTEXTS))
    if unknown:
        raise ExpressionError(
            f"unknown name {unknown[0]!r} in {shown}; use one of {', '.join(CONTEXTS)}"
        )
    return _Program(text, names, roots, runner)


@dataclass(frozen=True, eq=False)
class Condition:
    """A compiled CEL condition."""

    source: str
    program: _Program

    @property
    def names(self) -> frozenset[str]:
        return self.program.names

    def evaluate(self, ctx: Mapping[str, object]) -> bool:
        """True or False; ExpressionError when it fails or gives something else."""
        result = self.program.value(ctx)
        if isinstance(result, celtypes.BoolType | bool):
            return bool(result)
        kind = "null" if result is None else type(result).__name__.removesuffix("Type").lower()
        raise ExpressionError(f"'{self.source}' must give a bool, not a {kind} value")


@lru_cache(maxsize=2048)
def compile_condition(source: str) -> Condition:
    """Compile an `if:` condition; a whole-string `${{ … }}` wrapper is allowed."""
    whole = _TEMPLATE.fullmatch(source.strip())
    return Condition(source, _compile(whole[1] if whole else source))


def _format(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, celtypes.BoolType | bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)  # str/int/float subclasses print their plain Python form
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json.dumps(_plain(value), separators=(",", ":"))


def _plain(value: object) -> object:
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime | timedelta):
        return str(value)
    return value


@dataclass(frozen=True, eq=False)
class Template:
    """A string with `${{ EXPR }}` parts.

    Rendering splices values in as text: never for a shell script, whose values go
    through environment variables instead (workflows/shell.py).
    """

    source: str
    parts: tuple[str | _Program, ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*(p.names for p in self.parts if isinstance(p, _Program)))

    @property
    def is_static(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def render(self, ctx: Mapping[str, object]) -> str:
        """Interpolate; ints and bools print plainly (`3`, `true`), null as ``""``."""
        if self.is_static:
            return self.source
        return "".join(p if isinstance(p, str) else _format(p.value(ctx)) for p in self.parts)


@lru_cache(maxsize=2048)
def compile_template(source: str) -> Template:
    """Compile a string with `${{ }}` parts; ExpressionError names the bad part."""
    parts: list[str | _Program] = []
    pos = 0
    for m in _TEMPLATE.finditer(source):
        if m.start() > pos:
            parts.append(source[pos : m.start()])
        parts.append(_compile(m[1], f"'{m[0]}'"))
        pos = m.end()
    if pos < len(source):
        parts.append(source[pos:])
    for part in parts:
        if isinstance(part, str) and "${{" in part:
            raise ExpressionError(f"unterminated '${{{{' in '{source}': add '}}}}'")
    return Template(source, tuple(parts))


def template_names(source: str) -> frozenset[str]:
    """Dotted names a template reads, e.g. {"event.tag", "secrets.SLACK_URL"}."""
    return compile_template(source).names
