"""Sign-in and sign-out pages: local users with passwords (Argon2)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from tidegate.security.passwords import verify_password
from tidegate.store import users
from tidegate.web.state import AppState, app_state
from tidegate.web.ui.access import Page, checked_form, safe_next
from tidegate.web.ui.session import (
    LOGIN_CSRF_COOKIE,
    csrf_valid,
    end_session,
    keep_login_csrf,
    login_csrf,
    signed_in,
    start_session,
)
from tidegate.web.ui.templating import page

router = APIRouter(include_in_schema=False)
State = Annotated[AppState, Depends(app_state)]

FAILED = "That user name and password do not match an active account."


@router.get("/login")
async def login_form(request: Request, state: State, next: str = "/") -> Response:
    if await signed_in(request) is not None:
        return RedirectResponse(safe_next(next), 303)
    return _form(request, state, next)


def _form(request: Request, state: AppState, next_path: str, error: str = "") -> Response:
    token = login_csrf(request)
    response = page(
        request,
        "login.html",
        None,
        status_code=401 if error else 200,
        next=safe_next(next_path),
        error=error,
        login_token=token,
    )
    keep_login_csrf(response, token, state)
    return response


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
        return _form(request, state, next, "The form expired: please sign in again.")

    def check() -> tuple[str, str] | None:
        with state.db.session() as session:
            user = users.find_user(session, name)
            stored = user.password_hash if user and user.disabled_at is None else None
            if not verify_password(stored, password) or user is None:
                return None
            return user.name, user.role

    found = await asyncio.to_thread(check)
    if found is None:
        return _form(request, state, next, FAILED)
    response = RedirectResponse(safe_next(next), 303)
    await asyncio.to_thread(start_session, state, response, *found)
    return response


@router.post("/logout")
async def logout(request: Request, signed: Page, state: State) -> Response:
    await checked_form(request, signed)
    response = RedirectResponse("/login", 303)
    await asyncio.to_thread(end_session, state, request, response)
    return response
