"""The engine's side of webhook intake (events/intake.py `RunPlanner`), wired in app.py:
plan a delivery's runs against the workflows as they are now, as rows the intake
inserts with its event (queued; the run id, chosen here, is the DBOS workflow id), and
hand the committed ones to the launcher, which starts them outside the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from tidegate.engine.launcher import Launcher
from tidegate.engine.planner import concurrency_key
from tidegate.events.intake import PlannedRun, Planner
from tidegate.image_event import ImageEvent
from tidegate.status import Status
from tidegate.store.ids import new_id
from tidegate.store.models import utcnow
from tidegate.workflows import LoadedWorkflow, WorkflowDirectory, matches


class IntakeRuns:
    def __init__(self, workflows: WorkflowDirectory, launcher: Launcher) -> None:
        self._workflows = workflows
        self._launcher = launcher

    def planner(self) -> Planner:
        """Reads the workflows directory (a stat per file when nothing changed)."""
        return partial(plan, workflows=self._workflows.load().workflows)

    def queued(self, runs: Sequence[PlannedRun]) -> None:
        self._launcher.wake([(run.run_id, run.concurrency_key) for run in runs])


def plan(event: ImageEvent, workflows: dict[str, LoadedWorkflow]) -> list[PlannedRun]:
    """A queued run for every workflow whose filter accepts the event: engine/planner.py
    `plan_runs`, as rows for a Core insert instead of ORM objects."""
    planned = []
    now = utcnow()
    for name in sorted(workflows):
        loaded = workflows[name]
        if not matches(loaded.workflow.on.image, event):
            continue
        key = concurrency_key(loaded, event)
        run_id = new_id("run")
        row = {
            "id": run_id,
            "event_id": event.id,
            "workflow_name": loaded.workflow.name,
            "workflow_file": str(loaded.path),
            "workflow_text": loaded.source_text,
            "workflow_digest": loaded.digest,
            "concurrency_key": key,
            "image": event.image,
            "trigger": "webhook",
            "status": Status.QUEUED.value,
            "created_at": now,
        }
        planned.append(PlannedRun(run_id, key, loaded.workflow.name, row))
    return planned
