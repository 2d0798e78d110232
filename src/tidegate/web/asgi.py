"""The pure ASGI middlewares' common part: HTTP requests are theirs, the rest passes.

Pure ASGI (not Starlette's BaseHTTPMiddleware) so that they see each message as it is
sent: a streamed answer (a log followed over SSE) goes through them unchanged.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """Calls `http` for each HTTP request; lifespan and websocket scopes go straight on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError
