"""The sign-in page: the password form, and the identity provider's button when one is
configured. Shown by password sign-in (web/ui/signin.py) and by OIDC sign-in when it
refuses someone (web/ui/oidc.py)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from tidegate.config import Settings
from tidegate.web.state import AppState
from tidegate.web.ui.access import safe_next
from tidegate.web.ui.session import keep_login_csrf, login_csrf
from tidegate.web.ui.templating import page


def provider_name(settings: Settings) -> str:
    """The "Sign in with …" button's name; "" when OIDC sign-in is not configured."""
    if not settings.oidc_enabled:
        return ""
    return settings.oidc_name or urlsplit(settings.oidc_issuer).hostname or "single sign-on"


def login_page(
    request: Request,
    state: AppState,
    next_path: str,
    error: str = "",
    status_code: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The sign-in page (401 with an error unless told otherwise), with a fresh or kept
    CSRF token for its form."""
    token = login_csrf(request)
    response = page(
        request,
        "login.html",
        None,
        status_code=status_code or (401 if error else 200),
        next=safe_next(next_path),
        error=error,
        login_token=token,
        provider=provider_name(state.settings),
    )
    keep_login_csrf(response, token, state)
    response.headers.update(headers or {})
    return response
