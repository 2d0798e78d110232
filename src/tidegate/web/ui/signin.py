"""Sign-in and sign-out pages: local users with passwords (Argon2), and the routes of
sign-in through an identity provider (web/ui/oidc.py).

Failed password sign-ins are throttled per user name and per client address
(security/throttle.py): past the free failures, an attempt is refused with 429 and
`Retry-After` before its password is checked.
"""

from __future__ import annotations

import asyncio
import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from tidegate.security.passwords import verify_password
from tidegate.security.throttle import SignInThrottle
from tidegate.store import users
from tidegate.web.state import State
from tidegate.web.ui import oidc
from tidegate.web.ui.access import Page, checked_form, safe_next
from tidegate.web.ui.loginform import login_page
from tidegate.web.ui.session import (
    LOGIN_CSRF_COOKIE,
    csrf_valid,
    end_session,
    signed_in,
    start_session,
)

router = APIRouter(include_in_schema=False)

FAILED = "That user name and password do not match an active account."


@router.get("/login")
async def login_form(request: Request, state: State, next: str = "/") -> Response:
    if await signed_in(request) is not None:
        return RedirectResponse(safe_next(next), 303)
    return login_page(request, state, next)


@router.post("/login")
async def login(
    request: Request,
    state: State,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if not csrf_valid(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf_token):
        return login_page(request, state, next, "The form expired: please sign in again.")
    throttle = signin_throttle(request)
    address = request.client.host if request.client else ""
    wait = throttle.attempt(name, address)
    if wait > 0:
        seconds = math.ceil(wait)
        message = f"Too many failed sign-ins: try again in {seconds} seconds."
        return login_page(request, state, next, message, 429, {"Retry-After": str(seconds)})

    def check() -> tuple[str, str] | None:
        with state.db.session() as session:
            user = users.find_user(session, name)
            stored = user.password_hash if user and user.disabled_at is None else None
            if not verify_password(stored, password) or user is None:
                return None
            return user.name, user.role

    found = await asyncio.to_thread(check)
    if found is None:
        return login_page(request, state, next, FAILED)
    throttle.succeeded(name, address)
    response = RedirectResponse(safe_next(next), 303)
    await asyncio.to_thread(start_session, state, response, *found)
    return response


@router.post("/logout")
async def logout(request: Request, signed: Page, state: State) -> Response:
    await checked_form(request, signed)
    response = RedirectResponse("/login", 303)
    await asyncio.to_thread(end_session, state, request, response)
    return response


def signin_throttle(request: Request) -> SignInThrottle:
    """This app's throttle (per process: see security/throttle.py)."""
    throttle: SignInThrottle | None = getattr(request.app.state, "signin_throttle", None)
    if throttle is None:
        throttle = SignInThrottle()
        request.app.state.signin_throttle = throttle
    return throttle


router.include_router(oidc.router)
