"""The engine's side of webhook intake (events/intake.py `RunPlanner`), wired in app.py:
plan a delivery's runs against the workflows as they are now, start them after the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from tidegate.engine.control import Started, start_runs
from tidegate.engine.planner import plan_runs
from tidegate.events.intake import PlannedRun, Planner
from tidegate.workflows import WorkflowDirectory


class IntakeRuns:
    def __init__(self, workflows: WorkflowDirectory) -> None:
        self._workflows = workflows

    def planner(self) -> Planner:
        """Reads the workflows directory (a stat per file when nothing changed)."""
        return partial(plan_runs, workflows=self._workflows.load().workflows)

    async def start(self, runs: Sequence[PlannedRun]) -> None:
        await start_runs([Started(run.run_id, run.concurrency_key) for run in runs])
