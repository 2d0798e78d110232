"""`validate` and `schema`: workflow files, read locally."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tidegate.cli.base import app, err, fail, out, print_json, settings
from tidegate.workflows import WorkflowInvalid, load_workflow, workflow_json_schema

# --- workflows ----------------------------------------------------------------------


@app.command()
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories.")] = None,
) -> None:
    """Check workflow files; print each problem as file:line:column and exit 1 on any."""
    targets = paths or [settings().workflows]
    files: list[Path] = []
    for target in targets:
        if target.is_dir():
            found = [*target.glob("*.yaml"), *target.glob("*.yml")]
            # As the server reads a directory: editors' dotfiles are not workflows.
            files.extend(sorted(p for p in found if not p.name.startswith(".")))
        elif target.exists():
            files.append(target)
        else:
            raise fail(f"{target}: no such file or directory")
    problems = 0
    for path in files:
        try:
            load_workflow(path)
        except WorkflowInvalid as exc:
            for problem in exc.problems:
                err.print(str(problem), highlight=False, markup=False, soft_wrap=True)
                problems += 1
        else:
            out.print(f"{path}: ok", highlight=False)
    if problems:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the workflow file JSON Schema."""
    print_json(workflow_json_schema())
