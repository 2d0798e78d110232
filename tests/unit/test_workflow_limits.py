"""Workflow files past the loader's limits: refused quickly, with a position."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tidegate.cli import app
from tidegate.workflows import WorkflowInvalid, parse_workflow_text
from tidegate.workflows.loader import TooComplex

FLOW = "[" * 5000 + "]" * 5000  # 8 s and a RecursionError before the depth limit
BLOCK = "".join("  " * i + "a:\n" for i in range(100)) + "  " * 100 + "b: 1\n"
SEQUENCES = "- " * 3000 + "x\n"
LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (FLOW, (1, 65), "nested deeper than 64 levels"),
        (BLOCK, (64, 127), "nested deeper than 64 levels"),
        (SEQUENCES, (1, 129), "nested deeper than 64 levels"),
        (LAUGHS, (1, 1), "expands to more than 100000 nodes"),
    ],
)
def test_pathological_documents_are_refused_quickly(
    text: str, where: tuple[int, int], message: str
) -> None:
    started = time.process_time()
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow_text(text, "w.yaml")
    assert time.process_time() - started < 2.0
    (problem,) = caught.value.problems
    assert isinstance(problem, TooComplex)
    assert (problem.line, problem.column) == where and message in problem.message


def test_nesting_within_the_limit_is_only_a_schema_question() -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow_text("x: " + "[" * 60 + "]" * 60 + "\n", "w.yaml")
    assert not any(isinstance(p, TooComplex) for p in caught.value.problems)


def test_cli_names_file_line_and_column(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text(FLOW)
    result = CliRunner().invoke(app, ["validate", str(deep)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{deep}:1:65: the document is nested deeper than 64")
