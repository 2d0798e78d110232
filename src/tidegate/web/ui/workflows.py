"""`/workflows`: what is loaded (file, triggers, jobs, last runs), and files with problems.

Problems are the lines `tidegate validate` prints (`file:line:column: message`), so what
the page says can be found in the file, or reproduced on the command line.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from tidegate.store import runs as store_runs
from tidegate.store.models import Run
from tidegate.web.state import AppState, app_state
from tidegate.web.ui import pagefmt
from tidegate.web.ui.access import Page
from tidegate.web.ui.templating import render
from tidegate.workflows import ImageFilter, Job

router = APIRouter(include_in_schema=False)

LAST_RUNS = 5


@dataclass(frozen=True)
class JobLine:
    id: str
    needs: list[str]
    what: str  # "approval by …" or "3 steps"


@dataclass(frozen=True)
class Listed:
    name: str
    file: str
    digest: str
    trigger: ImageFilter
    jobs: list[JobLine]
    finally_steps: int
    runs: list[Run]  # the last few, newest first


@dataclass(frozen=True)
class FileProblems:
    file: str
    lines: list[str]  # `file:line:column: message`, in the file's order


def _job(job_id: str, job: Job) -> JobLine:
    if job.approval is not None:
        who = ", ".join(job.approval.approvers)
        what = f"approval: {job.approval.required} of {who}"
    else:
        count = len(job.steps)
        kinds = ", ".join(dict.fromkeys(step.kind for step in job.steps))
        what = f"{count} step{'' if count == 1 else 's'} ({kinds})"
    return JobLine(job_id, list(job.needs), what)


def _overview(state: AppState) -> tuple[list[Listed], list[FileProblems]]:
    result = state.workflows.load()
    listed = []
    with state.db.session() as session:
        for name, loaded in sorted(result.workflows.items()):
            workflow = loaded.workflow
            listed.append(
                Listed(
                    name=name,
                    file=str(loaded.path),
                    digest=loaded.digest,
                    trigger=workflow.on.image,
                    jobs=[_job(job_id, job) for job_id, job in workflow.jobs.items()],
                    finally_steps=len(workflow.finally_),
                    runs=store_runs.list_runs(session, workflow=name, limit=LAST_RUNS),
                )
            )
    by_file: dict[str, list[str]] = {}
    for problem in result.problems:
        by_file.setdefault(problem.file, []).append(str(problem))
    return listed, [FileProblems(file, lines) for file, lines in sorted(by_file.items())]


@router.get("/workflows")
async def workflows_page(request: Request, signed: Page) -> Response:
    state = app_state(request)
    listed, problems = await asyncio.to_thread(_overview, state)
    return await render(
        request,
        "workflows.html",
        signed,
        section="workflows",
        workflows=listed,
        problems=problems,
        directory=str(state.settings.workflows),
        fmt=pagefmt,
    )
