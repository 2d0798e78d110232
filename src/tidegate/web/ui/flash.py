"""What a form's redirect shows once: "hook created", and a new secret shown only now.

A form answers with a 303 (a reload does not send it again), so what it has to say
travels to the next page in a cookie: HttpOnly, SameSite=Strict, for its path only,
signed with the session's CSRF token (another session's cookie, or a forged one, shows
nothing), and cleared by the page that shows it. A new hook URL or API token is never
stored on the server side (only its hash is), so this cookie is the one place it waits
between the form and the page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.responses import Response

from tidegate.web.state import AppState
from tidegate.web.ui.session import SignedIn, secure_cookies

FLASH_COOKIE = "tidegate_flash"
_MAX_AGE = 300  # long enough for the redirect, short if the page is never loaded


@dataclass(frozen=True)
class Flash:
    message: str
    secret: str = ""  # a hook URL or an API token: shown once, with a warning
    secret_label: str = ""


def _sign(key: str, payload: str) -> str:
    return hmac.new(key.encode(), payload.encode(), hashlib.sha256).hexdigest()


def set_flash(
    response: Response, state: AppState, signed: SignedIn, path: str, flash: Flash
) -> None:
    data = {"m": flash.message, "s": flash.secret, "l": flash.secret_label}
    payload = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    response.set_cookie(
        FLASH_COOKIE,
        f"{payload}.{_sign(signed.csrf, payload)}",
        max_age=_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(state),
        path=path,
    )


def take_flash(conn: HTTPConnection, signed: SignedIn) -> Flash | None:
    """The flash this session left for this page, if any; clear it with `clear_flash`."""
    payload, _, signature = conn.cookies.get(FLASH_COOKIE, "").partition(".")
    if not payload or not hmac.compare_digest(signature, _sign(signed.csrf, payload)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return Flash(str(data["m"]), str(data["s"]), str(data["l"]))
    except (ValueError, KeyError, TypeError):
        return None


def clear_flash(response: Response, path: str) -> None:
    response.delete_cookie(FLASH_COOKIE, path=path, httponly=True, samesite="strict")
