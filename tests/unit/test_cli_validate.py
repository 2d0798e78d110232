"""`tidegate validate`: problems as file:line:column, exit 1; `tidegate schema`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tidegate.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def test_broken_file_reports_line_and_column(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        """name: web
on:
  image:
    repositories: ["acme/web"]
jobs:
  smoke:
    stepz:
      - run: echo hi
  deploy:
    needs: [smoke, missing]
    steps:
      - run: echo deploy
        timeout: 5 minutes
"""
    )
    result = runner.invoke(app, ["validate", str(broken)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith(f"{broken}:7:5:") and "stepz" in line for line in lines), lines
    assert any(line.startswith(f"{broken}:10:20:") and "missing" in line for line in lines), lines
    assert any(line.startswith(f"{broken}:13:18:") for line in lines), lines


def test_yaml_syntax_error_has_a_position(tmp_path: Path) -> None:
    broken = tmp_path / "syntax.yaml"
    broken.write_text("name: web\non: [unclosed\n")
    result = runner.invoke(app, ["validate", str(broken)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{broken}:")
    assert result.stderr.split(":")[1].isdigit() and result.stderr.split(":")[2].isdigit()


def test_example_workflows_are_valid() -> None:
    result = runner.invoke(app, ["validate", str(ROOT / "workflows")])
    assert result.exit_code == 0, result.stderr
    assert "hello.yaml: ok" in result.stdout


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1 and "no such file" in result.stderr


def test_schema_prints_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "jobs" in schema["properties"] and "on" in schema["properties"]
