"""Who calls the API, and what their role allows: viewers read, approvers also decide,
admins manage.

The caller is resolved once per request: the API gate (web/gate.py) does it before a
byte of the body is read and keeps it in the request's state, where the role checks
below find it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from tidegate.store.credentials import find_api_token
from tidegate.web.state import AppState, app_state

RANK = {"viewer": 0, "approver": 1, "admin": 2}
CALLER = "caller"  # its key in the request's state

bearer = HTTPBearer(auto_error=False, description="An API token from `tidegate token create`")


@dataclass(frozen=True)
class Caller:
    """Who is asking: an API token's user, or a signed-in person (web UI).

    `groups` are an OIDC identity's groups, for `group:NAME` approvers; the server's own
    `groups` setting is consulted besides them.
    """

    user: str
    role: str
    groups: frozenset[str] = frozenset()

    def ranks(self, role: str) -> bool:
        """Whether this caller's role is `role` or above."""
        return RANK.get(self.role, -1) >= RANK[role]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, {"WWW-Authenticate": "Bearer"})


# One kind of credential: the caller it proves, None when the request does not carry
# it, or `unauthorized(...)` raised when it carries one that is not valid.
Credential = Callable[[HTTPConnection, AppState], Awaitable[Caller | None]]


async def api_token(conn: HTTPConnection, state: AppState) -> Caller | None:
    scheme, token = get_authorization_scheme_param(conn.headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        return None

    def lookup() -> Caller | None:
        with state.db.session() as session:
            row = find_api_token(session, token)
            return Caller(row.user, row.role) if row else None

    caller = await asyncio.to_thread(lookup)
    if caller is None:
        raise unauthorized("invalid or revoked API token")
    return caller


# Tried in order; a web UI's session cookie would be one more kind.
CREDENTIALS: tuple[Credential, ...] = (api_token,)


async def authenticate(conn: HTTPConnection) -> Caller:
    """The request's caller, looked up on first use and kept in its state."""
    known = conn.scope.setdefault("state", {})
    if isinstance(caller := known.get(CALLER), Caller):
        return caller
    for credential in CREDENTIALS:
        if (caller := await credential(conn, app_state(conn))) is not None:
            known[CALLER] = caller
            return caller
    raise unauthorized("an API token is required")


async def _caller(
    request: Request,
    # Not read: it puts the bearer scheme in the OpenAPI document.
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    return await authenticate(request)


def require(role: str) -> object:
    """A dependency admitting callers whose role ranks at least `role`."""

    async def check(caller: Annotated[Caller, Depends(_caller)]) -> Caller:
        if not caller.ranks(role):
            raise HTTPException(403, f"this action needs the {role} role")
        return caller

    return Depends(check)


Viewer = Annotated[Caller, require("viewer")]
Approver = Annotated[Caller, require("approver")]
Admin = Annotated[Caller, require("admin")]
