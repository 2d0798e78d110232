"""The last line: an unexpected exception becomes a 500 JSON answer and a log entry that
names where it happened, never what it said.

An exception's text can carry what a webhook sender wrote or a secret (see
security/tracebacks.py). Starlette's own last handler re-raises after answering, so that
the server logs the exception with its text: this middleware sits inside it, answers,
logs the exception's types and frames only, and lets nothing through.
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from tidegate.security.tracebacks import scrubbed
from tidegate.web.asgi import HttpMiddleware

log = logging.getLogger(__name__)

_BODY = {
    "error": "internal_error",
    "detail": "Tidegate failed; the server log has the details",
    "field": None,
}


class Failsafe(HttpMiddleware):
    """Answers 500 to any exception the app raised before answering."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            answer = failed(scope["method"], _route(scope), exc)
            if not started:  # else the answer is under way: the connection just ends
                await answer(scope, receive, send)


def failed(method: str, route: str, exc: Exception) -> JSONResponse:
    """Log `exc` scrubbed, naming `route` (a template: a path may hold a secret); the 500
    to answer with. Shared with the webhook fast path (web/hookpath.py)."""
    log.error("unexpected error on %s %s:\n%s", method, route, scrubbed(exc))
    return JSONResponse(_BODY, status_code=500)


def _route(scope: Scope) -> str:
    """The matched route's template (`/hooks/{source}/{token}`): a path may hold a secret."""
    route = scope.get("route")
    return str(getattr(route, "path", "")) or "(unrouted)"
