"""A run as the engine sees it: its row, its event, and its workflow snapshot parsed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from tidegate.engine.runtime import Runtime
from tidegate.image_event import ImageEvent
from tidegate.store.events import get_event, to_image_event
from tidegate.store.models import Run
from tidegate.store.runs import get_run, jobs_of
from tidegate.workflows import Workflow, parse_workflow_text

FINALLY = "finally"  # the job id under which `finally:` steps are recorded


@lru_cache(maxsize=256)
def _parse(digest: str, text: str, filename: str) -> Workflow:
    # The digest keys the cache; the snapshot text is what gets parsed, never the file.
    del digest
    return parse_workflow_text(text, filename)


@dataclass
class LoadedRun:
    run: Run
    event: ImageEvent
    workflow: Workflow
    job_statuses: dict[str, str]
    job_started: dict[str, datetime]

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


def load_run(runtime: Runtime, run_id: str) -> LoadedRun:
    with runtime.db.session() as session:
        run = get_run(session, run_id)
        if run is None:
            raise LookupError(f"run {run_id} does not exist")
        event_row = get_event(session, run.event_id)
        if event_row is None:
            raise LookupError(f"event {run.event_id} of run {run_id} does not exist")
        event = to_image_event(event_row)
        jobs = jobs_of(session, run_id)
        statuses = {job.job_id: job.status for job in jobs}
        started = {job.job_id: job.started_at for job in jobs if job.started_at}
    if run.digest:
        # Every step sees the digest the run was pinned to at its start.
        event = event.model_copy(update={"digest": run.digest})
    workflow = _parse(
        run.workflow_digest, run.workflow_text, run.workflow_file or run.workflow_name
    )
    return LoadedRun(
        run=run, event=event, workflow=workflow, job_statuses=statuses, job_started=started
    )


async def load_run_async(runtime: Runtime, run_id: str) -> LoadedRun:
    return await asyncio.to_thread(load_run, runtime, run_id)
