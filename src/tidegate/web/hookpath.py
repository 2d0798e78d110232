"""The webhook fast path: `POST /hooks/{source}/{token}` and the Jenkins plugin's paths,
answered straight from ASGI.

A webhook is Tidegate's hot path, and FastAPI's routing, dependency injection and our
other middlewares cost more of the event loop than the intake itself. This middleware,
the outermost of ours, hands a matching POST to `Intake.receive` and sends the answer
itself, as the routes (web/api/hooks_intake.py, still registered: /openapi.json
documents them) and the layers they sit in would have:

- the 202 body the route returns; our exceptions as the app's handler answers them
  (web/errors.py), a body too large included (the intake bounds it: Content-Length
  first, then while reading);
- the security headers (web/ui/headers.py), after the response's own, as that
  middleware appends them;
- any other exception as Failsafe answers and logs it (web/failsafe.py).

ApiGate and FormGate let these paths through untouched. Any other method or path goes
on to the app unchanged (a GET here is the router's 405).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from starlette._utils import get_route_path  # what the router matches routes against
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from tidegate.errors import TidegateError
from tidegate.events.intake import Intake
from tidegate.events.sources import ALIASES
from tidegate.web.errors import tidegate_response
from tidegate.web.failsafe import failed
from tidegate.web.schemas import IntakeOut
from tidegate.web.ui.headers import HEADERS

HOOK = "/hooks/{source}/{token}"


def _route(template: str, alias_of: str | None) -> tuple[str, re.Pattern[str], str | None]:
    """The template, its regex as the router compiles it, and the source a Jenkins
    path stands for (None: the path names it)."""
    return template, compile_path(template)[0], alias_of


_ROUTES = [
    _route(HOOK, None),
    *(_route(f"/{alias}/{{token}}/notify", source) for alias, source in ALIASES.items()),
]

# As SecurityHeaders appends them (MutableHeaders lower-cases names): after the answer's.
_SECURITY = [
    (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in HEADERS.items()
]


class HookPath:
    """Answers webhook POSTs with `intake`; everything else goes on to `app`."""

    def __init__(self, app: ASGIApp, *, intake: Intake) -> None:
        self.app = app
        self.intake = intake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = get_route_path(scope)
            for template, regex, alias_of in _ROUTES:
                match = regex.match(path)
                if match is not None:
                    params = match.groupdict()
                    source = alias_of or params["source"]
                    await self._hook(template, source, params["token"], scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _hook(
        self, template: str, source: str, token: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        answering = False
        try:
            answer = await self._answer(source, token, scope, receive)
            answer.raw_headers.extend(_SECURITY)
            answering = True
            await answer(scope, receive, send)
        except ClientDisconnect:
            return  # gone while sending the body: nobody to answer
        except Exception as exc:
            # Failsafe's answer: it sits outside SecurityHeaders, so without them.
            fallback = failed("POST", template, exc)
            if not answering:  # else the answer is under way: the connection just ends
                await fallback(scope, receive, send)

    async def _answer(
        self, source: str, token: str, scope: Scope, receive: Receive
    ) -> JSONResponse:
        """The route's answer, or the exception handler's (web/errors.py)."""
        try:
            got = await self.intake.receive(source, token, Headers(scope=scope), _body(receive))
        except TidegateError as exc:
            return tidegate_response(exc)
        out = IntakeOut(
            events=got.events,
            runs=got.runs,
            duplicates=got.duplicates,
            unmatched=got.unmatched,
            ignored=got.ignored,
        )
        return JSONResponse(out.model_dump(), status_code=202)


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    """The request body's chunks, as `Request.stream()` yields them."""
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect
