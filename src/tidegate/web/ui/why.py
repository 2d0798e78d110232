"""Why an event started the runs it did: for every workflow loaded now, its verdict.

"Why didn't my push start a run?" is answered with the planner's own judge (`explain`,
which `matches` is built on), run against the workflows loaded now. The event's runs
were planned against the workflows of their time, so a verdict says when today's file
disagrees with what happened (a workflow added or changed since, or replayed later).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from tidegate.image_event import ImageEvent
from tidegate.store.models import Run
from tidegate.workflows import LoadedWorkflow
from tidegate.workflows.match import Rejection, explain


@dataclass(frozen=True)
class Verdict:
    """One loaded workflow against the event."""

    name: str
    file: str
    runs: list[Run]  # the event's runs of this workflow, oldest first
    rejections: list[Rejection]  # why today's `on.image` refuses the event; empty: accepts
    changed_after: datetime | None  # the file's mtime, when later than the event's arrival

    @property
    def started(self) -> bool:
        return bool(self.runs)


@dataclass(frozen=True)
class Verdicts:
    loaded: list[Verdict]
    # Runs of workflows not loaded now (renamed, removed, or a file with problems today).
    unloaded: list[Run] = field(default_factory=list)

    @property
    def refused(self) -> list[Verdict]:
        return [v for v in self.loaded if not v.started and v.rejections]

    @property
    def missed(self) -> list[Verdict]:
        """Accepting today, yet without a run for the event."""
        return [v for v in self.loaded if not v.started and not v.rejections]

    @property
    def started(self) -> list[Verdict]:
        return [v for v in self.loaded if v.started]


def _mtime(loaded: LoadedWorkflow) -> datetime | None:
    try:
        return datetime.fromtimestamp(loaded.path.stat().st_mtime, UTC)
    except OSError:  # removed since it was loaded: nothing to say about when
        return None


def verdicts(workflows: dict[str, LoadedWorkflow], event: ImageEvent, runs: list[Run]) -> Verdicts:
    """Each loaded workflow's verdict on `event`, by name; `runs` are the event's runs."""
    ordered = sorted(runs, key=lambda r: r.id)
    out = []
    for name in sorted(workflows):
        loaded = workflows[name]
        mtime = _mtime(loaded)
        later = mtime if mtime and event.received_at and mtime > event.received_at else None
        out.append(
            Verdict(
                name=name,
                file=str(loaded.path),
                runs=[r for r in ordered if r.workflow_name == name],
                rejections=explain(loaded.workflow.on.image, event),
                changed_after=later,
            )
        )
    unloaded = [r for r in ordered if r.workflow_name not in workflows]
    return Verdicts(out, unloaded)
