"""One handler turns our exception tree into status + JSON."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tidegate.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadError,
    PayloadTooLarge,
    TidegateError,
    Unverified,
)

STATUS: list[tuple[type[TidegateError], int, str]] = [
    (NotFound, 404, "not_found"),
    (Forbidden, 403, "forbidden"),
    (Conflict, 409, "conflict"),
    (PayloadError, 400, "bad_payload"),
    (PayloadTooLarge, 413, "payload_too_large"),
    (Unverified, 401, "unverified"),
]


def error_body(error: str, detail: str, field: str | None = None) -> dict[str, str | None]:
    return {"error": error, "detail": detail, "field": field}


def error_response(
    status: int,
    error: str,
    detail: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(error, detail, field), status_code=status, headers=headers)


def tidegate_response(exc: TidegateError) -> JSONResponse:
    """The answer to one of our exceptions: the handler's, and the webhook fast path's
    (web/hookpath.py), which answers without the app's exception handlers."""
    for kind, status, name in STATUS:
        if isinstance(exc, kind):
            field = exc.field if isinstance(exc, PayloadError) else None
            return JSONResponse(error_body(name, exc.message, field), status_code=status)
    return JSONResponse(error_body("error", exc.message), status_code=400)


async def tidegate_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TidegateError)
    return tidegate_response(exc)


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, "http_error", str(exc.detail), headers=exc.headers)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    field = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or None
    return JSONResponse(
        error_body("invalid_request", first.get("msg", "invalid request"), field),
        status_code=422,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(TidegateError, tidegate_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
