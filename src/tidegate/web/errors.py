"""One handler turns our exception tree into status + JSON."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tidegate.errors import Conflict, Forbidden, NotFound, PayloadError, TidegateError

log = logging.getLogger(__name__)

STATUS: list[tuple[type[TidegateError], int, str]] = [
    (NotFound, 404, "not_found"),
    (Forbidden, 403, "forbidden"),
    (Conflict, 409, "conflict"),
    (PayloadError, 400, "bad_payload"),
]


def error_body(error: str, detail: str, field: str | None = None) -> dict[str, str | None]:
    return {"error": error, "detail": detail, "field": field}


async def tidegate_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TidegateError)
    for kind, status, name in STATUS:
        if isinstance(exc, kind):
            field = exc.field if isinstance(exc, PayloadError) else None
            return JSONResponse(error_body(name, exc.message, field), status_code=status)
    return JSONResponse(error_body("error", exc.message), status_code=400)


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        error_body("http_error", str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    field = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or None
    return JSONResponse(
        error_body("invalid_request", first.get("msg", "invalid request"), field),
        status_code=422,
    )


async def unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    # Never the exception's text: it may hold a URL or a value that is a secret.
    log.error("unexpected error", exc_info=exc)
    return JSONResponse(
        error_body("internal_error", "Tidegate failed; the server log has the details"),
        status_code=500,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(TidegateError, tidegate_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
