"""The API's gate: what a request under /api/ must pass before the app reads its body.

In order, each before anything later is read:

1. a known caller (web/auth.py), else 401: a stranger costs a token lookup, never a body;
2. a path and query without NUL, else 400 (PostgreSQL refuses NUL in text);
3. a body of at most `max_body_bytes`, else 413: by its Content-Length without reading
   it, or as soon as a streamed body passes the limit;
4. a JSON body nested at most `max_json_depth` levels, else 400, counted before the
   parser recurses into it.

The body is then handed on from memory. Pure ASGI, so responses (log streams too) pass
untouched. Webhook paths are not under /api/: they check the hook's token, then read
the body, themselves (web/api/hooks_intake.py).
"""

from __future__ import annotations

import email.message
from collections.abc import Mapping
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidegate.security.jsondepth import exceeds_depth
from tidegate.web.auth import authenticate
from tidegate.web.errors import error_response

PREFIX = "/api/"


class Refused(Exception):
    """The request is answered with this error, and the app never sees it."""

    def __init__(
        self, status: int, error: str, detail: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.response = error_response(status, error, detail, headers=headers)


class ApiGate:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _route_path(scope).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            admitted = await self._admit(scope, receive)
        except Refused as refusal:
            await refusal.response(scope, receive, send)
        except ClientDisconnect:
            return  # gone while sending the body: nobody to answer
        else:
            await self.app(scope, admitted, send)

    async def _admit(self, scope: Scope, receive: Receive) -> Receive:
        """What the app is to receive from: the body replayed from memory."""
        try:
            await authenticate(HTTPConnection(scope))
        except HTTPException as exc:
            raise Refused(exc.status_code, "http_error", exc.detail, exc.headers) from None
        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope["query_string"]):
            raise Refused(400, "bad_request", "the path and query must not contain NUL")
        headers = Headers(scope=scope)
        if "transfer-encoding" not in headers and headers.get("content-length", "0") == "0":
            return receive
        body = await _read(receive, headers, self.max_body_bytes)
        if _parsed_as_json(headers) and exceeds_depth(body, self.max_json_depth):
            detail = f"the JSON body is nested deeper than {self.max_json_depth} levels"
            raise Refused(400, "bad_request", detail)
        pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay() -> Message:
            # Then the server's own messages: a streaming response waits for a disconnect.
            return pending.pop() if pending else await receive()

        return replay


def _route_path(scope: Scope) -> str:
    # As the router sees it: without the prefix a proxy may mount the app under.
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path


async def _read(receive: Receive, headers: Headers, limit: int) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise Refused(413, "payload_too_large", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refused(413, "payload_too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _parsed_as_json(headers: Headers) -> bool:
    """Whether FastAPI parses the body as JSON (fastapi/routing.py), or may: untyped."""
    value = headers.get("content-type")
    if not value:
        return True
    message = email.message.Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )
