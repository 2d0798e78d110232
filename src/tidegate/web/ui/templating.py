"""Jinja2 for the pages: autoescaped, from the package, with what every page shows.

Everything a page shows that came from a webhook (tags, names, log lines, comments) goes
through autoescaping: no template marks such a value safe.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from tidegate import __version__
from tidegate.web.ui.session import CSRF_FIELD, SignedIn

ENV = Environment(
    loader=PackageLoader("tidegate", "web/ui/templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def page(
    request: Request,
    template: str,
    signed: SignedIn | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render `template` with the signed-in person, their CSRF token and the version."""
    html = ENV.get_template(template).render(
        request=request,
        me=signed.caller if signed else None,
        csrf_field=CSRF_FIELD,
        csrf_token=signed.csrf if signed else "",
        version=__version__,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
