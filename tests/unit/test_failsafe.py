"""An unexpected exception is a 500 JSON answer; the log says where, never what it said."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tidegate.web.failsafe import Failsafe

SECRET = "https://registry.hub.docker.com/u/acme/web/hook/s3cr3t-callback/"


async def boom(_request: Request) -> Response:
    try:
        raise LookupError(f"value {SECRET} not found")
    except LookupError as exc:
        raise RuntimeError(f"while storing {SECRET}") from exc


def test_unexpected_errors_are_answered_and_logged_without_their_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Starlette(routes=[Route("/hooks/{source}/{token}", boom, methods=["POST"])])
    app.add_middleware(Failsafe)
    with caplog.at_level(logging.ERROR), TestClient(app, raise_server_exceptions=True) as c:
        response = c.post("/hooks/dockerhub/tgh_secret-token")
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "s3cr3t" not in response.text
    logged = caplog.text
    assert "builtins.RuntimeError (message withheld)" in logged
    assert "builtins.LookupError (message withheld)" in logged
    assert "test_failsafe.py" in logged and "boom" in logged  # where it happened
    assert "/hooks/{source}/{token}" in logged  # the route, not the path with its token
    assert "s3cr3t" not in logged and "tgh_secret-token" not in logged
