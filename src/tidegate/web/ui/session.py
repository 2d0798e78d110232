"""Signed-in people: the session cookie, the caller it proves, and CSRF tokens.

A session is a random token in an HttpOnly, SameSite=Lax cookie (Secure when the public
URL is https); the database keeps its hash, the user, their role and groups, and the
CSRF token every form of the session carries. The API under /api/ never accepts the
cookie (only bearer tokens), so a forged cross-site request can reach a state change
only through a UI form, and those check the CSRF token.

Before sign-in, the sign-in form's CSRF token is a double-submit cookie.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import HTTPConnection
from starlette.responses import Response

from tidegate.security.tokens import new_token
from tidegate.store import web_sessions
from tidegate.web.auth import Caller
from tidegate.web.state import AppState, app_state

SESSION_COOKIE = "tidegate_session"
LOGIN_CSRF_COOKIE = "tidegate_login_csrf"
CSRF_FIELD = "csrf_token"
_SESSION = "ui_session"  # its key in the request's state


@dataclass(frozen=True)
class SignedIn:
    """The session behind a request: who, and the CSRF token its forms carry."""

    caller: Caller
    csrf: str


async def signed_in(conn: HTTPConnection) -> SignedIn | None:
    """The live session of this request's cookie, looked up once per request."""
    known = conn.scope.setdefault("state", {})
    if _SESSION in known:
        cached: SignedIn | None = known[_SESSION]
        return cached
    token = conn.cookies.get(SESSION_COOKIE, "")
    found: SignedIn | None = None
    if token:
        state = app_state(conn)

        def lookup() -> SignedIn | None:
            with state.db.session() as session:
                row = web_sessions.find_session(session, token)
                if row is None:
                    return None
                caller = Caller(row.user, row.role, frozenset(row.groups))
                return SignedIn(caller, row.csrf)

        found = await asyncio.to_thread(lookup)
    known[_SESSION] = found
    return found


def start_session(
    state: AppState, response: Response, user: str, role: str, groups: list[str] | None = None
) -> None:
    """Sign `user` in: store a new session and set its cookie on `response`."""
    token = new_token("tgs_")
    expires = datetime.now(UTC) + timedelta(hours=state.settings.session_hours)
    with state.db.session() as session:
        web_sessions.create_session(
            session,
            token=token,
            user=user,
            role=role,
            csrf=secrets.token_urlsafe(32),
            expires_at=expires,
            groups=groups,
        )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(state.settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(state),
        path="/",
    )


def end_session(state: AppState, conn: HTTPConnection, response: Response) -> None:
    """Sign out: the session ends in the database, the cookie is cleared."""
    token = conn.cookies.get(SESSION_COOKIE, "")
    if token:
        with state.db.session() as session:
            web_sessions.end_session(session, token)
    response.delete_cookie(SESSION_COOKIE, path="/", samesite="lax", httponly=True)


def csrf_valid(expected: str, given: str | None) -> bool:
    """Constant-time comparison; an empty or missing token never passes."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected, given or "")


def login_csrf(conn: HTTPConnection) -> str:
    """The sign-in form's token: the one its cookie holds already, or a new one."""
    return conn.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)


def keep_login_csrf(response: Response, token: str, state: AppState) -> None:
    """Send the sign-in form's token in a cookie of its own, to be sent back with it."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(state),
        path="/login",
    )


def secure_cookies(state: AppState) -> bool:
    return state.settings.base_url.startswith("https://")
