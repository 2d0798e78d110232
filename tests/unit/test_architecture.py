"""The shape of src/tidegate, read from its source (nothing is imported):

- import directions, as layers: the entry points (`web`, `cli`) on top, the `engine`
  under them, and the parts (`events`, `registry`, `executors`, `store`, `workflows`)
  under the engine. No import goes up: a part imports neither the engine nor an entry
  point, and the engine imports no entry point;
- no import cycles among tidegate's packages (each top-level module, such as `config`,
  counts as one of them);
- no module over MAX_LINES lines, but for those ALLOWED_LONG.

Every import statement counts, those under `if TYPE_CHECKING:` and inside functions
too: a dependency the type checker or a late import hides is still a dependency. A
failure names each offending import by file and line.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "tidegate"

ENTRY_POINTS = {"web", "cli"}
PARTS = {"events", "registry", "executors", "store", "workflows"}
# importer -> the tidegate packages it may not import
FORBIDDEN = {
    **{part: {"engine", *ENTRY_POINTS} for part in PARTS},
    "engine": ENTRY_POINTS,
}

MAX_LINES = 400
# Modules allowed past MAX_LINES, each with its reason. Alembic migrations are written
# once, never edited after they ship, and read top to bottom as one schema step:
# splitting one would only scatter a single DDL change.
ALLOWED_LONG = {
    "tidegate/store/migrations/versions/*.py": "an Alembic migration: one schema step",
}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name, e.g. tidegate.engine.execute
    imported: str  # dotted name as far as it resolves, e.g. tidegate.store.runs
    where: str  # src-relative path:line

    def __str__(self) -> str:
        return f"{self.where}: {self.importer} imports {self.imported}"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(name: str, path: Path) -> list[Import]:
    """Every tidegate import in the module `name` at `path`, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    where = path.relative_to(SRC)
    found: dict[tuple[str, int], Import] = {}
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # `from tidegate.store import runs` imports tidegate.store.runs, if a module.
            targets = [f"{module}.{alias.name}" for alias in node.names] or [module]
            targets = [t if t in MODULES else module for t in targets]
        for target in targets:
            if target == "tidegate" or target.startswith("tidegate."):
                found[(target, node.lineno)] = Import(name, target, f"{where}:{node.lineno}")
    return list(found.values())


def group(dotted: str) -> str:
    """The package or top-level module a module belongs to: tidegate.X.y -> X."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ""


MODULES = modules()
IMPORTS = [i for name, path in MODULES.items() for i in imports_of(name, path)]


def test_the_source_is_found() -> None:
    assert {"tidegate.engine", "tidegate.web", "tidegate.cli", "tidegate.store"} <= set(MODULES)
    assert len(IMPORTS) > 100


def test_import_directions() -> None:
    wrong = [
        str(i) for i in IMPORTS if group(i.imported) in FORBIDDEN.get(group(i.importer), set())
    ]
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_import_cycles_among_packages() -> None:
    edges: dict[str, dict[str, list[Import]]] = defaultdict(lambda: defaultdict(list))
    for i in IMPORTS:
        source, target = group(i.importer), group(i.imported)
        if source and target and source != target:
            edges[source][target].append(i)
    cycles = [c for c in strongly_connected(edges) if len(c) > 1]
    report = []
    for cycle in cycles:
        members = set(cycle)
        report.append(f"cycle among {', '.join(sorted(members))}:")
        for source in sorted(members):
            for target in sorted(set(edges[source]) & members):
                report += [f"  {i}" for i in edges[source][target]]
    assert not cycles, "\n".join(report)


def strongly_connected(edges: dict[str, dict[str, list[Import]]]) -> list[list[str]]:
    """Tarjan's strongly connected components of the package graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    nodes = sorted(set(edges) | {t for targets in edges.values() for t in targets})

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, {})):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            found.append(component)

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def test_the_checks_catch_what_they_are_for() -> None:
    made_up = {
        "a": {"b": [Import("tidegate.a.x", "tidegate.b.y", "tidegate/a/x.py:3")]},
        "b": {"c": [Import("tidegate.b.y", "tidegate.c", "tidegate/b/y.py:1")]},
        "c": {"a": [Import("tidegate.c", "tidegate.a", "tidegate/c.py:9")]},
        "d": {"a": [Import("tidegate.d", "tidegate.a", "tidegate/d.py:2")]},
    }
    assert [sorted(c) for c in strongly_connected(made_up) if len(c) > 1] == [["a", "b", "c"]]
    here = PACKAGE / "engine" / "__init__.py"
    assert group("tidegate.engine.steps.run") == "engine"
    assert all(i.importer == "tidegate.engine" for i in imports_of("tidegate.engine", here))


def test_modules_stay_short() -> None:
    long = []
    for name, path in MODULES.items():
        lines = len(path.read_text().splitlines())
        relative = path.relative_to(SRC)
        if lines > MAX_LINES and not any(relative.match(p) for p in ALLOWED_LONG):
            long.append(f"{relative}: {lines} lines")
    assert not long, f"modules over {MAX_LINES} lines (split them):\n" + "\n".join(long)


def test_the_allow_list_is_still_needed() -> None:
    """Each allowed pattern matches a module (a stale entry would hide a new one)."""
    for pattern in ALLOWED_LONG:
        assert any(p.relative_to(SRC).match(pattern) for p in MODULES.values()), pattern
