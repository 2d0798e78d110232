"""A run as the engine sees it: its row, its event, and its workflow snapshot parsed.

What a run was started with never changes: its event, and the workflow text it carries
(a workflow edited mid-run does not reach a running run). Those are kept in memory by
run id, parsed once (`Snapshots`); a load reads only what moves, the run's row and its
jobs'. Before, each of the five loads ahead of a run's first command read the event and
parsed nothing new; each step of a 20-step run loaded all three rows again.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from tidegate.engine.runtime import Runtime
from tidegate.image_event import ImageEvent
from tidegate.store.events import get_event, to_image_event
from tidegate.store.models import Run
from tidegate.store.runs import get_run, jobs_of
from tidegate.workflows import Workflow, event_context, parse_workflow_text

FINALLY = "finally"  # the job id under which `finally:` steps are recorded


@lru_cache(maxsize=256)
def _parse(digest: str, text: str, filename: str) -> Workflow:
    # The digest keys the cache; the snapshot text is what gets parsed, never the file.
    del digest
    return parse_workflow_text(text, filename)


@dataclass
class Snapshot:
    """What a run started with: its event as received, its workflow as it was then."""

    event: ImageEvent
    workflow: Workflow
    # The event as the run's steps see it once pinned, and its `event` expression
    # context, by digest (one digest per run; "" before pinning or when it failed).
    _seen: dict[str, tuple[ImageEvent, dict[str, str]]] = field(default_factory=dict)

    def as_seen(self, digest: str) -> tuple[ImageEvent, dict[str, str]]:
        if digest not in self._seen:
            # Every step sees the digest the run was pinned to at its start.
            event = self.event.model_copy(update={"digest": digest}) if digest else self.event
            self._seen[digest] = (event, event_context(event))
        return self._seen[digest]


class Snapshots:
    """The snapshots of the runs this process works on, least recently used dropped."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._lock = threading.Lock()  # loads run in worker threads
        self._items: OrderedDict[str, Snapshot] = OrderedDict()

    def of(self, session: Session, run: Run) -> Snapshot:
        with self._lock:
            found = self._items.get(run.id)
            if found is not None:
                self._items.move_to_end(run.id)
                return found
        event_row = get_event(session, run.event_id)
        if event_row is None:
            raise LookupError(f"event {run.event_id} of run {run.id} does not exist")
        workflow = _parse(
            run.workflow_digest, run.workflow_text, run.workflow_file or run.workflow_name
        )
        made = Snapshot(to_image_event(event_row), workflow)
        with self._lock:
            self._items[run.id] = made
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return made


SNAPSHOTS = Snapshots()


@dataclass
class LoadedRun:
    run: Run
    event: ImageEvent
    workflow: Workflow
    job_statuses: dict[str, str]
    job_started: dict[str, datetime]
    event_context: dict[str, str] = field(default_factory=dict)  # `event`, in expressions

    @property
    def run_id(self) -> str:
        return self.run.id

    def run_context(self, runtime: Runtime, status: str | None = None) -> dict[str, Any]:
        return {
            "id": self.run.id,
            "status": status or self.run.status,
            "url": run_url(runtime, self.run.id),
            "workflow": self.run.workflow_name,
            "digest": self.run.digest,
        }


def run_url(runtime: Runtime, run_id: str) -> str:
    return f"{runtime.settings.base_url}/runs/{run_id}"


def load_run_in(session: Session, run_id: str) -> LoadedRun:
    """The run, read in `session` (two queries; the event and workflow come from memory)."""
    run = get_run(session, run_id)
    if run is None:
        raise LookupError(f"run {run_id} does not exist")
    snapshot = SNAPSHOTS.of(session, run)
    jobs = jobs_of(session, run_id)
    event, context = snapshot.as_seen(run.digest or "")
    return LoadedRun(
        run=run,
        event=event,
        workflow=snapshot.workflow,
        job_statuses={job.job_id: job.status for job in jobs},
        job_started={job.job_id: job.started_at for job in jobs if job.started_at},
        event_context=context,
    )


def load_run(runtime: Runtime, run_id: str) -> LoadedRun:
    with runtime.db.session() as session:
        return load_run_in(session, run_id)


async def load_run_async(runtime: Runtime, run_id: str) -> LoadedRun:
    return await asyncio.to_thread(load_run, runtime, run_id)
