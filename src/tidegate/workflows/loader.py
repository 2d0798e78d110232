"""Read workflow files: YAML 1.2 with positions, every problem located in the file.

Problems are data (file, line, column, message) and all of a file's problems are
collected, not just the first. `WorkflowDirectory` caches by mtime and size so the
server can call it on every webhook.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tidegate.errors import WorkflowError
from tidegate.workflows.schema import Workflow

SUFFIXES = (".yaml", ".yml")
_MAX_NODES = 100_000  # aliases can blow a small file up exponentially
# Nesting: ruamel composes and constructs recursively, and so does every later walk.
_MAX_DEPTH = 64


@dataclass(frozen=True)
class Problem:
    """One problem in a workflow file; line and column are 1-based."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True)
class TooComplex(Problem):
    """A document past the loader's limits (nesting, alias expansion): refused unread."""


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.max_depth = _MAX_DEPTH
    return yaml


class WorkflowInvalid(WorkflowError):
    """The workflow file has problems; `problems` lists them all."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
        super().__init__(f"invalid workflow, {count}:\n" + "\n".join(map(str, problems)))


@dataclass(frozen=True)
class LoadedWorkflow:
    workflow: Workflow
    path: Path
    source_text: str  # the raw YAML, kept with each run as its snapshot
    digest: str  # "sha256:<hex>" of source_text


@dataclass(frozen=True)
class LoadResult:
    workflows: dict[str, LoadedWorkflow]  # by workflow name
    problems: list[Problem]


class _TooLarge(Exception):
    pass


def _plain(value: Any, budget: list[int]) -> Any:
    """ruamel's round-trip types as plain Python, within a node budget."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if isinstance(value, dict):
        return {_plain(k, budget): _plain(v, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, budget) for v in value]
    for kind in (bool, str, int, float):  # bool first: it is an int
        if isinstance(value, kind):
            return kind(value)
    return value


def _duplicate_keys(text: str, filename: str) -> list[Problem]:
    """Every duplicate key; ruamel's loader stops at the first one."""
    problems: list[Problem] = []
    seen_nodes: set[int] = set()
    stack: list[Node] = [_yaml().compose(text)]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                stack.append(value)
                if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                mark = key.start_mark
                if key.value in first:
                    message = f"duplicate key {key.value!r} (first at line {first[key.value]})"
                    problems.append(Problem(filename, mark.line + 1, mark.column + 1, message))
                else:
                    first[key.value] = mark.line + 1
    return sorted(problems, key=lambda p: (p.line, p.column))


def _yaml_problem(filename: str, exc: MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = f"invalid YAML: {exc.problem or exc.context or exc}"
    if exc.context and exc.problem and exc.context_mark is not None:
        where = f"{exc.context_mark.line + 1}:{exc.context_mark.column + 1}"
        message += f" ({exc.context} at {where})"
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return Problem(filename, line, column, message)


def _position(lookup: Callable[[Any], Any], key: Any) -> tuple[int, int] | None:
    try:
        line, column = lookup(key)
    except (KeyError, IndexError, TypeError, ValueError):
        return None  # e.g. a key brought in by a `<<` merge has no position of its own
    return int(line), int(column)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for elem in loc:
        if isinstance(elem, int):
            out += f"[{elem}]"
        elif elem != "[key]":
            out += f".{elem}" if out else str(elem)
    return out


def _within(
    lines: list[str], at: tuple[int, int], value: object, line_in: int, column_in: int
) -> tuple[int, int]:
    """Where a position inside a string value is in the file (0-based), when we can tell.

    A `|` block's content starts the line after `|`, each line as written; a one-line
    value starts at `at`, plain or behind a quote. Each guess must show `${{` there (the
    positions point at expressions); otherwise the value's own position stands.
    """
    if not isinstance(value, str):
        return at
    rows = value.split("\n")
    if not 1 <= line_in <= len(rows):
        return at
    guesses = [(at[0], at[1] + column_in - 1), (at[0], at[1] + column_in)] if line_in == 1 else []
    block = at[0] + line_in
    if block < len(lines) and lines[block].endswith(rows[line_in - 1]):
        guesses.append((block, len(lines[block]) - len(rows[line_in - 1]) + column_in - 1))
    for row, column in guesses:
        if row < len(lines) and lines[row].startswith("${{", column):
            return row, column
    return at


def _locate(filename: str, root: CommentedMap, error: ErrorDetails, lines: list[str]) -> Problem:
    """The key's position for a missing or unknown key, the value's for a bad value.

    A problem carrying `script_line`/`script_column` (a `${{ }}` inside a script) points
    at that expression when its place in the file can be told.
    """
    loc = error["loc"]
    node: Any = root
    key_pos = value_pos = (root.lc.line, root.lc.col)
    found = 0
    for elem in loc:
        if elem == "[key]":
            value_pos = key_pos
            break
        if isinstance(node, CommentedMap) and elem in node:
            key_pos = _position(node.lc.key, elem) or (node.lc.line, node.lc.col)
            value_pos = _position(node.lc.value, elem) or key_pos
        elif isinstance(node, CommentedSeq) and isinstance(elem, int) and 0 <= elem < len(node):
            key_pos = value_pos = _position(node.lc.item, elem) or (node.lc.line, node.lc.col)
        else:
            break
        node = node[elem]
        found += 1
    kind = error["type"]
    line, column = key_pos if kind in ("missing", "unknown_key", "extra_forbidden") else value_pos
    inner = error.get("ctx") or {}
    if "script_line" in inner and found == len(loc):
        line, column = _within(
            lines, (line, column), error["input"], inner["script_line"], inner["script_column"]
        )
    where = _dotted(loc[:found] if kind == "missing" else loc)
    if kind == "missing":
        message = f"missing required key {str(loc[-1])!r}"
    elif kind == "extra_forbidden":
        message = f"unknown key {str(loc[-1])!r}"
    else:
        message = error["msg"]
    if "[key]" in loc:
        message = f"invalid key: {message}"
    return Problem(filename, line + 1, column + 1, f"{where}: {message}" if where else message)


def _parse(text: str, filename: str) -> tuple[Workflow | None, list[Problem], Any]:
    """The workflow or its problems, and the round-trip data (for positions)."""
    try:
        data = _yaml().load(text)
    except DuplicateKeyError:
        return None, _duplicate_keys(text, filename), None
    except MaxDepthExceededError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = f"the document is nested deeper than {_MAX_DEPTH} levels"
        return None, [TooComplex(filename, line, column, message)], None
    except MarkedYAMLError as exc:
        return None, [_yaml_problem(filename, exc)], None
    except YAMLError as exc:
        return None, [Problem(filename, 1, 1, f"invalid YAML: {exc}")], None
    if not isinstance(data, CommentedMap):
        message = "a workflow file must be a mapping with name, on and jobs"
        return None, [Problem(filename, 1, 1, message)], None
    try:
        plain = _plain(data, [_MAX_NODES])
    except (_TooLarge, RecursionError):
        message = f"the document expands to more than {_MAX_NODES} nodes"
        return None, [TooComplex(filename, 1, 1, message)], None
    try:
        workflow = Workflow.model_validate(plain)
    except ValidationError as exc:
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        problems = [_locate(filename, data, e, lines) for e in exc.errors()]
        return None, sorted(problems, key=lambda p: (p.line, p.column)), data
    return workflow, [], data


def parse_workflow_text(text: str, filename: str = "<text>") -> Workflow:
    """Parse and validate one workflow; raises WorkflowInvalid listing every problem."""
    workflow, problems, _ = _parse(text, filename)
    if workflow is None:
        raise WorkflowInvalid(problems)
    return workflow


@dataclass(frozen=True)
class _FileOutcome:
    loaded: LoadedWorkflow | None
    problems: list[Problem]
    name_position: tuple[int, int]  # 1-based, for "name already used"


def _read(path: Path) -> tuple[str | None, list[Problem]]:
    try:
        return path.read_bytes().decode("utf-8-sig"), []
    except OSError as exc:
        return None, [Problem(str(path), 1, 1, f"cannot read: {exc.strerror or exc}")]
    except UnicodeDecodeError as exc:
        return None, [Problem(str(path), 1, 1, f"not UTF-8 text: {exc.reason}")]


def _load_file(path: Path) -> _FileOutcome:
    text, problems = _read(path)
    if text is None:
        return _FileOutcome(None, problems, (1, 1))
    workflow, problems, data = _parse(text, str(path))
    if workflow is None:
        return _FileOutcome(None, problems, (1, 1))
    line, column = _position(data.lc.value, "name") or (0, 0)
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return _FileOutcome(LoadedWorkflow(workflow, path, text, digest), [], (line + 1, column + 1))


def load_workflow(path: str | os.PathLike[str]) -> Workflow:
    """Load one file; raises WorkflowInvalid listing every problem."""
    outcome = _load_file(Path(path))
    if outcome.loaded is None:
        raise WorkflowInvalid(outcome.problems)
    return outcome.loaded.workflow


def _combine(outcomes: list[_FileOutcome]) -> LoadResult:
    workflows: dict[str, LoadedWorkflow] = {}
    problems: list[Problem] = []
    for outcome in outcomes:
        problems.extend(outcome.problems)
        loaded = outcome.loaded
        if loaded is None:
            continue
        other = workflows.get(loaded.workflow.name)
        if other is not None:
            message = f"name: {loaded.workflow.name!r} is already used by {other.path}"
            problems.append(Problem(str(loaded.path), *outcome.name_position, message))
            continue
        workflows[loaded.workflow.name] = loaded
    return LoadResult(workflows, problems)


class WorkflowDirectory:
    """The workflows of one directory, re-read only when a file changed, came or went.

    Files are `*.yaml` and `*.yml` directly in the directory, in name order; dotfiles
    (editor lock and swap files) are skipped. A later file whose `name` is taken is a
    problem and is left out. Safe to call from several threads.

    `on_change(before, after)` hears the problems before and after each re-read, so
    that a file that stops loading is reported once, not on every load.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        on_change: Callable[[list[Problem], list[Problem]], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self._on_change = on_change
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[tuple[int, int], _FileOutcome]] = {}
        self._result: LoadResult | None = None

    def _scan(self) -> dict[Path, tuple[int, int]]:
        found: dict[Path, tuple[int, int]] = {}
        with os.scandir(self.path) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.name.endswith(SUFFIXES):
                    continue
                if entry.is_file():
                    st = entry.stat()
                    found[Path(entry.path)] = (st.st_mtime_ns, st.st_size)
        return dict(sorted(found.items(), key=lambda item: item[0].name))

    def load(self) -> LoadResult:
        """The current workflows and problems (a fresh copy; the cache stays intact)."""
        with self._lock:
            try:
                signatures = self._scan()
            except OSError as exc:
                message = f"cannot read the workflows directory: {exc.strerror or exc}"
                return LoadResult({}, [Problem(str(self.path), 1, 1, message)])
            cached = {path: entry[0] for path, entry in self._files.items()}
            if self._result is None or cached != signatures:
                before = self._result.problems if self._result else []
                old = self._files
                self._files = {
                    path: (sig, old[path][1] if cached.get(path) == sig else _load_file(path))
                    for path, sig in signatures.items()
                }
                self._result = _combine([outcome for _, outcome in self._files.values()])
                if self._on_change is not None:
                    self._on_change(list(before), list(self._result.problems))
            return LoadResult(dict(self._result.workflows), list(self._result.problems))


def load_workflows(directory: str | os.PathLike[str]) -> LoadResult:
    """Load every workflow file of a directory (see WorkflowDirectory), uncached."""
    return WorkflowDirectory(directory).load()
