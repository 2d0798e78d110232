"""Jinja2 for the pages: autoescaped, from the package, with what every page shows.

Everything a page shows that came from a webhook (tags, names, log lines, comments) goes
through autoescaping: no template marks such a value safe.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from tidegate import __version__
from tidegate.engine.approval import allowed
from tidegate.store import approvals as store_approvals
from tidegate.web.auth import Caller
from tidegate.web.state import AppState, app_state
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


def decidable(state: AppState, caller: Caller) -> list[Any]:
    """The pending approvals `caller` may decide, oldest first."""
    if not caller.ranks("approver"):
        return []
    with state.db.session() as session:
        rows = store_approvals.list_approvals(session, status="pending", limit=500)
    mine = [r for r in rows if allowed(r, caller.user, state.settings.groups, caller.groups)]
    return sorted(mine, key=lambda r: r.created_at)


async def render(
    request: Request,
    template: str,
    signed: SignedIn,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A signed-in page: `page` plus what the navigation shows on every page (`section`,
    the number of approvals waiting for this person)."""
    state = app_state(request)
    waiting = await asyncio.to_thread(decidable, state, signed.caller)
    return page(
        request, template, signed, status_code=status_code, waiting_count=len(waiting), **context
    )


async def notice(
    request: Request,
    signed: SignedIn,
    status_code: int,
    heading: str,
    message: str,
    *,
    section: str = "",
    back: str = "",
    back_label: str = "",
) -> HTMLResponse:
    """A page that only says something (not found, not allowed, cannot filter), with a
    way back when `back` is given."""
    context: dict[str, Any] = {"heading": heading, "message": message}
    if section:
        context["section"] = section
    if back:
        context.update(back=back, back_label=back_label)
    return await render(request, "notice.html", signed, status_code=status_code, **context)
