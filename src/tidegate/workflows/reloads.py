"""Terminal lines when the workflows directory is read again and a file breaks or heals."""

from __future__ import annotations

from pathlib import Path

from tidegate import logs
from tidegate.workflows.loader import Problem


def note_problems(before: list[Problem], after: list[Problem]) -> None:
    """After the workflows directory was read again: a line for each file with new
    problems (it is left out until fixed) and for each file that loads again."""
    old = set(before)
    by_file: dict[str, list[Problem]] = {}
    for problem in after:
        by_file.setdefault(problem.file, []).append(problem)
    for file, problems in by_file.items():
        if set(problems) <= old:
            continue  # said when it appeared
        more = len(problems) - 1
        rest = f" (and {more} more: `tidegate validate {file}` lists them)" if more else ""
        logs.note(
            "workflow.invalid",
            f"workflow {file} is invalid: {logs.clean(str(problems[0]), 2 * logs.MAX_TEXT)}{rest}",
            file=file,
            problems=[str(p) for p in problems],
        )
    for file in sorted({p.file for p in before} - by_file.keys()):
        if Path(file).exists():
            logs.note("workflow.valid", f"workflow {file} loads again", file=file)
