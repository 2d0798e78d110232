"""Who may see a page and send a form: signed in, the role, and a valid CSRF token.

A visitor without a session is sent to sign in and brought back to the page after; a
form without the session's CSRF token, or from a role too low, is a 403 that changes
nothing.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from tidegate.web.ui.session import CSRF_FIELD, SignedIn, csrf_valid, signed_in


class SignInRequired(Exception):
    """The page needs a signed-in person; `next` is where to return after."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def page_user(request: Request) -> SignedIn:
    """The signed-in person; otherwise a redirect to sign in, and back here after."""
    signed = await signed_in(request)
    if signed is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path)
    return signed


Page = Annotated[SignedIn, Depends(page_user)]


def safe_next(path: str | None) -> str:
    """A local path to return to after sign-in; anything else (another host) is `/`."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def sign_in_redirect(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(f"/login?next={quote(safe_next(exc.next_path), safe='')}", 303)


async def checked_form(request: Request, signed: SignedIn, role: str = "viewer") -> FormData:
    """The form of a state change: the role first, then the CSRF token; else 403."""
    if not signed.caller.ranks(role):
        raise HTTPException(403, f"this action needs the {role} role")
    form = await request.form()
    given = form.get(CSRF_FIELD)
    if not csrf_valid(signed.csrf, given if isinstance(given, str) else None):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page")
    return form
