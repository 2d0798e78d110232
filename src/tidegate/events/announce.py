"""The log line for a stored push and the runs it started: a webhook's or a poll's."""

from __future__ import annotations

from collections.abc import Sequence

from tidegate import logs
from tidegate.events.delivery import PlannedRun
from tidegate.image_event import ImageEvent


def note_planned(
    kind: str, headline: str, source: str, event: ImageEvent, runs: Sequence[PlannedRun]
) -> None:
    """`headline → runs …` (or `no workflow matches`), with the ids a reader follows."""
    started = ", ".join(f"{run.run_id} ({run.workflow})" for run in runs)
    logs.note(
        kind,
        f"{headline} → " + (f"runs {started}" if runs else "no workflow matches"),
        source=source,
        event_id=event.id,
        image=event.image,
        runs=[run.run_id for run in runs],
    )
