"""`POST /hooks/{source}/{token}`, and the Jenkins plugin's paths (one per source alias).

Served before routing by web/hookpath.py, which answers as these routes would; they
stay registered for /openapi.json.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tidegate.events.sources import ALIASES
from tidegate.web.schemas import ErrorOut, IntakeOut
from tidegate.web.state import AppState, app_state

router = APIRouter(tags=["webhooks"])

RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut},
    404: {"model": ErrorOut},
    413: {"model": ErrorOut},
}


async def intake(source: str, token: str, request: Request, state: AppState) -> JSONResponse:
    # Stored when this returns; the engine starts the runs on its own (engine/launcher.py).
    received = await state.intake.receive(source, token, request.headers, request.stream())
    out = IntakeOut(
        events=received.events,
        runs=received.runs,
        duplicates=received.duplicates,
        unmatched=received.unmatched,
        ignored=received.ignored,
    )
    return JSONResponse(out.model_dump(), status_code=202)


@router.post(
    "/hooks/{source}/{token}", status_code=202, response_model=IntakeOut, responses=RESPONSES
)
async def hook(
    source: str,
    token: str,
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
) -> JSONResponse:
    """Receive a registry webhook: 202 once its events and planned runs are stored."""
    return await intake(source, token, request, state)


def _jenkins(source: str) -> Callable[..., Awaitable[JSONResponse]]:
    async def jenkins(
        token: str,
        request: Request,
        state: Annotated[AppState, Depends(app_state)],
    ) -> JSONResponse:
        return await intake(source, token, request, state)

    return jenkins


for _alias, _source in ALIASES.items():
    router.add_api_route(
        f"/{_alias}/{{token}}/notify",
        _jenkins(_source),
        methods=["POST"],
        name=f"jenkins_{_source}",
        description=f"The Jenkins plugin's path for `{_source}` webhooks: "
        "switch by changing the host only.",
        status_code=202,
        response_model=IntakeOut,
        responses=RESPONSES,
    )
