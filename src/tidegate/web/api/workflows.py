"""`/api/v1/workflows`: what is loaded, and validating a file before committing it."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse

from tidegate.web.auth import Viewer
from tidegate.web.errors import error_response
from tidegate.web.schemas import ErrorOut, ProblemOut, Text, ValidateOut, WorkflowOut, WorkflowsOut
from tidegate.web.state import AppState, app_state
from tidegate.workflows import WorkflowInvalid, parse_workflow_text
from tidegate.workflows.loader import TooComplex

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])
State = Annotated[AppState, Depends(app_state)]


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


@router.post("/validate", response_model=ValidateOut, responses={400: {"model": ErrorOut}})
async def validate(
    _caller: Viewer,
    text: Annotated[Text, Body(media_type="application/yaml")],
    filename: str = "workflow.yaml",
) -> ValidateOut | JSONResponse:
    """Validate one workflow file's text; problems carry line and column.

    A text past the loader's limits (nesting, alias expansion) is refused with 400.
    """
    try:
        # Off the event loop: a large text takes ruamel a while.
        await asyncio.to_thread(parse_workflow_text, text, filename)
    except WorkflowInvalid as exc:
        refused = next((p for p in exc.problems if isinstance(p, TooComplex)), None)
        if refused is not None:
            return error_response(400, "bad_request", str(refused), "body")
        return ValidateOut(valid=False, problems=[problem_out(p) for p in exc.problems])
    return ValidateOut(valid=True, problems=[])
