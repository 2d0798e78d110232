"""A server set to check the `gar` push subscription's OIDC token, on SQLite and
PostgreSQL: a push with a valid token is stored; one without, or with a bad one, is a 401
that stores nothing and is counted in `/metrics`; other sources are untouched."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support import Server, make_settings, start_server
from tidegate.events.sources import SOURCES
from tidegate.events.sources.gar import gar_payload

AUDIENCE = "tidegate-gar-test"
EMAIL = "pubsub-push@acme-ci.iam.gserviceaccount.com"
GOOGLE = RSAKey.generate_key(2048, parameters={"kid": "google-1"}, private=True)
FORGER = RSAKey.generate_key(2048, parameters={"kid": "google-1"}, private=True)


def token(key: RSAKey = GOOGLE, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "sub": "113774264463038321964",
        "email": EMAIL,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    } | changes
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("gar-oidc")
    jwks = tmp / "google-jwks.json"
    jwks.write_text(json.dumps({"keys": [GOOGLE.as_dict(private=False)]}))
    settings = make_settings(
        tmp,
        module_database_url,
        run_engine=False,
        gar_oidc_audience=AUDIENCE,
        gar_oidc_jwks=jwks,
        gar_oidc_email=EMAIL,
    )
    handle = start_server(settings)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def hook(server: Server) -> str:
    with server.client() as c:
        made = c.post("/api/v1/hooks", json={"source": "gar", "name": "gar (oidc)"})
    assert made.status_code == 201, made.text
    url: str = made.json()["url"]
    return url


def post(url: str, body: bytes, authorization: str | None) -> httpx2.Response:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return httpx2.post(url, content=body, headers=headers, timeout=30)


def stored(server: Server) -> list[dict[str, Any]]:
    with server.client() as c:
        events: list[dict[str, Any]] = c.get("/api/v1/events", params={"limit": 500}).json()
    return events


def refusals(server: Server, reason: str) -> float:
    text = httpx2.get(f"{server.url}/metrics", timeout=30).text
    pattern = (
        rf'^tidegate_webhooks_unverified_total\{{(?=[^}}]*reason="{reason}")'
        rf'(?=[^}}]*source="gar")[^}}]*\}} (\S+)$'
    )
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_push_with_a_valid_token_is_stored(server: Server, hook: str) -> None:
    body = gar_payload("acme/web:v1.4.0", project="acme-ci")
    response = post(hook, body, f"Bearer {token()}")

    assert response.status_code == 202, response.text
    [event_id] = response.json()["events"]
    with server.client() as c:
        event = c.get(f"/api/v1/events/{event_id}").json()
    assert (event["source"], event["repository"], event["tag"]) == (
        "gar",
        "acme-ci/acme/web",
        "v1.4.0",
    )


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing"),
        ("Bearer", "missing"),
        (f"Bearer {token(FORGER)}", "mismatch"),
        (f"Bearer {token(aud='someone-else')}", "mismatch"),
        (f"Bearer {token(iss='https://evil.example.com')}", "mismatch"),
        (f"Bearer {token(email='intruder@evil.example.com')}", "mismatch"),
        (f"Bearer {token(exp=int(time.time()) - 3600)}", "mismatch"),
        (
            f"Bearer {token(RSAKey.generate_key(2048, parameters={'kid': 'x'}, private=True))}",
            "unknown_key",
        ),
        ("Bearer not.a.jwt", "mismatch"),
    ],
    ids=["none", "empty", "forged", "aud", "iss", "email", "expired", "unknown-key", "junk"],
)
def test_a_push_without_a_valid_token_is_a_401_that_stores_nothing(
    server: Server, hook: str, authorization: str | None, reason: str
) -> None:
    before = stored(server)
    counted = refusals(server, reason)
    response = post(hook, gar_payload("acme/web:v6.6.6", project="acme-ci"), authorization)

    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unverified"
    sent = (authorization or "").partition(" ")[2]
    assert not sent or sent not in response.text
    assert stored(server) == before
    assert refusals(server, reason) == counted + 1


def test_other_sources_do_not_need_the_token(server: Server) -> None:
    body, headers = SOURCES["dockerhub"].sample("acme/api:v1")
    response = httpx2.post(server.hooks["dockerhub"], content=body, headers=headers, timeout=30)
    assert response.status_code == 202, response.text


def test_the_token_is_in_no_log_line(
    server: Server, hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = token(aud="leak-check")
    with caplog.at_level(logging.DEBUG):
        assert post(hook, gar_payload("acme/web:v1"), f"Bearer {secret}").status_code == 401
    assert any("OIDC token" in r.getMessage() for r in caplog.records)
    assert all(secret not in r.getMessage() for r in caplog.records)
