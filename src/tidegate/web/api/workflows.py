"""`/api/v1/workflows`: what is loaded, and validating a file before committing it."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Depends

from tidegate.web.auth import Viewer
from tidegate.web.schemas import ProblemOut, ValidateOut, WorkflowOut, WorkflowsOut
from tidegate.web.state import AppState, app_state
from tidegate.workflows import WorkflowInvalid, parse_workflow_text

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])
State = Annotated[AppState, Depends(app_state)]
MAX_WORKFLOW_BYTES = 512 * 1024


def problem_out(problem: object) -> ProblemOut:
    return ProblemOut.model_validate(problem, from_attributes=True)


@router.get("", response_model=WorkflowsOut)
async def list_workflows(_caller: Viewer, state: State) -> WorkflowsOut:
    result = await asyncio.to_thread(state.workflows.load)
    return WorkflowsOut(
        workflows=[
            WorkflowOut(
                name=loaded.workflow.name,
                file=str(loaded.path),
                digest=loaded.digest,
                repositories=list(loaded.workflow.on.image.repositories),
                tags=list(loaded.workflow.on.image.tags),
                jobs=list(loaded.workflow.jobs),
            )
            for _name, loaded in sorted(result.workflows.items())
        ],
        problems=[problem_out(p) for p in result.problems],
    )


@router.post("/validate", response_model=ValidateOut)
async def validate(
    _caller: Viewer,
    text: Annotated[str, Body(media_type="application/yaml", max_length=MAX_WORKFLOW_BYTES)],
    filename: str = "workflow.yaml",
) -> ValidateOut:
    """Validate one workflow file's text; problems carry line and column."""
    try:
        parse_workflow_text(text, filename)
    except WorkflowInvalid as exc:
        return ValidateOut(valid=False, problems=[problem_out(p) for p in exc.problems])
    return ValidateOut(valid=True, problems=[])
