"""Bearer API tokens and roles: viewers read, approvers also decide, admins manage."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from tidegate.store.credentials import find_api_token
from tidegate.web.state import AppState, app_state

RANK = {"viewer": 0, "approver": 1, "admin": 2}

bearer = HTTPBearer(auto_error=False, description="An API token from `tidegate token create`")


@dataclass(frozen=True)
class Caller:
    user: str
    role: str


async def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None or not credentials.credentials:
        raise HTTPException(401, "an API token is required", {"WWW-Authenticate": "Bearer"})
    state: AppState = app_state(request)

    def lookup() -> Caller | None:
        with state.db.session() as session:
            row = find_api_token(session, credentials.credentials)
            return Caller(row.user, row.role) if row else None

    caller = await asyncio.to_thread(lookup)
    if caller is None:
        raise HTTPException(401, "invalid or revoked API token", {"WWW-Authenticate": "Bearer"})
    return caller


def require(role: str) -> object:
    """A dependency admitting callers whose role ranks at least `role`."""

    async def check(caller: Annotated[Caller, Depends(_caller)]) -> Caller:
        if RANK.get(caller.role, -1) < RANK[role]:
            raise HTTPException(403, f"this action needs the {role} role")
        return caller

    return Depends(check)


Viewer = Annotated[Caller, require("viewer")]
Approver = Annotated[Caller, require("approver")]
Admin = Annotated[Caller, require("admin")]
