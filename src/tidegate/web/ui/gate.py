"""The pages' gate: a form is read only from a signed-in person, and only so much of it.

The API has its own gate (web/gate.py) and webhooks their token check; every other POST
is a page's form. Without a live session (sign-in itself aside) it is sent to sign in
before a byte of its body is read; a body over `max_body_bytes` is a 413.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidegate.web.ui.session import signed_in

OWN_GATES = ("/api/", "/hooks/", "/dockerhub-webhook/", "/dockerregistry-webhook/")
OPEN_FORMS = ("/login",)  # sign-in has no session yet; /login/… holds the OIDC callback


class FormGate:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if path.startswith(OWN_GATES):
            await self.app(scope, receive, send)
            return
        if not path.startswith(OPEN_FORMS) and await signed_in(HTTPConnection(scope)) is None:
            await RedirectResponse("/login", 303)(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await _too_large(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, _capped(receive, self.max_body_bytes), tracking)
        except BodyTooLarge:
            if not started:
                await _too_large(scope, receive, send)


def _capped(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise BodyTooLarge
        return message

    return capped


class BodyTooLarge(Exception):
    """A streamed form passed the limit."""


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("the form is too large", 413)(scope, receive, send)
