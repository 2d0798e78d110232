"""Signing in through a real OpenID Connect provider (oidc-provider-mock, in a thread).

The browser is an httpx2 client following the whole dance: Tidegate's redirect to the
provider, the provider's authorization form, its redirect back with a code.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from oidc_provider_mock import User, run_server_in_thread

from tests.integration.test_ui_signin import add_user
from tests.support import Server, eventually, write_workflow
from tidegate.config import Settings
from tidegate.errors import SignInRefused
from tidegate.events.sources.dockerhub import dockerhub_payload
from tidegate.signin.oidc import OidcClient
from tidegate.store import users
from tidegate.store.db import Database
from tidegate.store.models import AuditEntry, WebSession
from tidegate.store.models import User as UserRow

PEOPLE = [
    User(sub="u-carol", claims={"preferred_username": "carol", "groups": ["release", "dev"]}),
    User(sub="u-dave", claims={"preferred_username": "dave", "groups": ["dev"]}),
    User(sub="u-erin", claims={"preferred_username": "erin", "groups": ["release"]}),
    User(sub="u-frank", claims={"preferred_username": "frank", "groups": ["platform"]}),
]
SECRET = "client-secret-for-tests"
GATED = """
name: gated
on_unresolved: tag
on: {image: {repositories: ["acme/*"]}}
jobs:
  approve:
    approval: {approvers: ["group:release"]}
  deploy:
    needs: [approve]
    steps:
      - run: "true"
"""


@dataclass
class Provider:
    issuer: str

    def set_claims(self, sub: str, claims: dict[str, object]) -> None:
        httpx2.put(f"{self.issuer}/users/{sub}", json=claims, timeout=30).raise_for_status()


@pytest.fixture
def provider() -> Iterator[Provider]:
    with run_server_in_thread(require_nonce=True, user_claims=PEOPLE) as server:
        yield Provider(f"http://localhost:{server.server_port}")


@pytest.fixture
def oidc_server(server_factory: Callable[..., Server], provider: Provider) -> Server:
    return server_factory(
        oidc_issuer=provider.issuer,
        oidc_client_id="tidegate",
        oidc_client_secret=SECRET,
        oidc_roles={"release": "approver", "platform": "admin"},
        oidc_name="Acme SSO",
    )


def to_provider_and_back(browser: httpx2.Client, sub: str, next_path: str = "/") -> str:
    """Start signing in, choose `sub` on the provider's form: the callback URL it gives."""
    start = browser.get("/login/oidc", params={"next": next_path})
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    asked = parse_qs(urlsplit(authorize).query)
    assert asked["code_challenge_method"] == ["S256"] and asked["nonce"] and asked["state"]
    assert "tidegate_oidc" in browser.cookies  # state, nonce, verifier: in a signed cookie
    assert browser.cookies["tidegate_oidc"] not in authorize
    form = browser.get(authorize)
    assert form.status_code == 200 and "Authorize" in form.text
    back = browser.post(authorize, data={"sub": sub})
    assert back.status_code == 302, back.text
    callback = back.headers["location"]
    assert callback.startswith(browser.base_url.join("/login/oidc/callback?").__str__())
    return callback


def sign_in(browser: httpx2.Client, sub: str, next_path: str = "/") -> httpx2.Response:
    return browser.get(to_provider_and_back(browser, sub, next_path))


def csrf_of(page: httpx2.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def rows(server: Server, model: type, **where: object) -> list:
    db = Database(server.settings.db_url)
    with db.session() as session:
        found = list(session.query(model).filter_by(**where))
        session.expunge_all()
    db.dispose()
    return found


def test_a_release_member_signs_in_and_decides_a_group_approval(oidc_server: Server) -> None:
    server = oidc_server
    write_workflow(server.settings, "gated", GATED)
    answer = server.post_hook("dockerhub", dockerhub_payload("acme/web:v7"))
    (run_id,) = answer.json()["runs"]
    eventually(lambda: server.run(run_id)["status"] == "waiting")
    (approval,) = server.run(run_id)["approvals"]

    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        login = browser.get("/login")
        assert "Sign in with Acme SSO" in login.text
        landed = sign_in(browser, "u-carol", f"/runs/{run_id}")
        assert landed.status_code == 303 and landed.headers["location"] == f"/runs/{run_id}"
        assert "tidegate_session" in browser.cookies
        assert "tidegate_oidc" not in browser.cookies  # the flow is over
        (carol,) = rows(server, UserRow, name="carol")
        assert (carol.origin, carol.role, carol.password_hash) == ("oidc", "approver", None)
        (session,) = rows(server, WebSession, user="carol")
        assert set(session.groups) == {"release", "dev"}

        # The run page's form, as carol clicks Approve: `group:release` lets her.
        page = browser.get(f"/runs/{run_id}")
        assert page.status_code == 200
        decided = browser.post(
            f"/runs/{run_id}/approvals/{approval['id']}/approve",
            data={"csrf_token": csrf_of(page), "comment": "ship it"},
        )
        assert decided.status_code == 303, decided.text

    run = server.wait_run(run_id)
    assert run["status"] == "succeeded"
    (decision,) = run["approvals"][0]["decisions"]
    assert (decision["user"], decision["comment"]) == ("carol", "ship it")
    assert ("carol", "approval.approve") in {(a["actor"], a["action"]) for a in run["audit"]}
    created = rows(server, AuditEntry, action="user.create", target="carol")
    assert [(e.actor, e.detail) for e in created] == [("oidc", "approver")]

    # Dave's groups map to no role: a viewer, who may look but not decide.
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        assert sign_in(browser, "u-dave").status_code == 303
        (dave,) = rows(server, UserRow, name="dave")
        assert dave.role == "viewer"
        page = browser.get(f"/runs/{run_id}")
        refused = browser.post(
            f"/runs/{run_id}/approvals/{approval['id']}/reject",
            data={"csrf_token": csrf_of(page)},
        )
        assert refused.status_code == 403


def test_a_bad_state_or_a_replayed_code_is_refused(
    oidc_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    server = oidc_server
    caplog.set_level(logging.DEBUG)
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        callback = to_provider_and_back(browser, "u-carol")
        forged = re.sub(r"state=[^&]+", "state=forged", callback)
        answer = browser.get(forged)
        assert answer.status_code == 400 and "expired" in answer.text
        assert "tidegate_session" not in browser.cookies

    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        callback = to_provider_and_back(browser, "u-carol", "/approvals")
        flow = browser.cookies["tidegate_oidc"]
        assert browser.get(callback).headers["location"] == "/approvals"

    # Someone who saw the callback URL, even with the flow's cookie: the code is spent.
    with httpx2.Client(base_url=server.url, timeout=30) as thief:
        thief.cookies.set("tidegate_oidc", flow, domain="127.0.0.1", path="/login/oidc")
        again = thief.get(callback)
        assert again.status_code == 400 and "invalid_grant" in again.text
        assert "tidegate_session" not in thief.cookies
    # Without the cookie, the state matches nothing.
    bare = httpx2.get(callback, timeout=30)
    assert bare.status_code == 400 and "expired" in bare.text
    assert len(rows(server, WebSession, user="carol")) == 1
    # The client secret reaches no log record, at any level; nor does a code, in the
    # records of Tidegate's threads (the test's browser logs the URLs it follows).
    assert SECRET not in caplog.text
    (code,) = parse_qs(urlsplit(callback).query)["code"]
    provider_loggers = ("werkzeug", "oidc_provider_mock", "authlib")
    server_side = [
        caplog.handler.format(record)
        for record in caplog.records
        if record.threadName != "MainThread" and not record.name.startswith(provider_loggers)
    ]
    assert server_side and not [text for text in server_side if code in text]


def test_roles_follow_groups_and_refused_accounts_stay_out(
    oidc_server: Server, provider: Provider
) -> None:
    server = oidc_server
    add_user(server, "erin", "viewer")  # a local user: a provider may not take the name
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        refused = sign_in(browser, "u-erin")
        assert refused.status_code == 403 and "local user" in refused.text
        assert "tidegate_session" not in browser.cookies

    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        assert sign_in(browser, "u-frank").status_code == 303
    assert rows(server, UserRow, name="frank")[0].role == "admin"
    provider.set_claims("u-frank", {"preferred_username": "frank", "groups": ["dev"]})
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        assert sign_in(browser, "u-frank").status_code == 303
    assert rows(server, UserRow, name="frank")[0].role == "viewer"
    (changed,) = rows(server, AuditEntry, action="user.role", target="frank")
    assert (changed.actor, changed.detail) == ("oidc", "admin → viewer")

    db = Database(server.settings.db_url)
    with db.session() as session:
        users.disable_user(session, "frank")
    db.dispose()
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        refused = sign_in(browser, "u-frank")
        assert refused.status_code == 403 and "disabled" in refused.text
        assert "tidegate_session" not in browser.cookies


def provider_id_token(issuer: str, client_id: str, nonce: str, sub: str = "u-carol") -> str:
    """An ID token the provider issues to `client_id`, through its own code flow."""
    redirect = "http://127.0.0.1:9/callback"
    authorize = f"{issuer}/oauth2/authorize"
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "scope": "openid profile",
        "state": "s",
        "nonce": nonce,
    }
    back = httpx2.post(authorize, params=params, data={"sub": sub}, timeout=30)
    (code,) = parse_qs(urlsplit(back.headers["location"]).query)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
    tokens = httpx2.post(f"{issuer}/oauth2/token", data=form, auth=(client_id, "x"), timeout=30)
    return str(tokens.json()["id_token"])


def test_id_tokens_for_another_audience_or_nonce_or_past_expiry_are_refused(
    provider: Provider,
) -> None:
    settings = Settings(
        oidc_issuer=provider.issuer, oidc_client_id="tidegate", oidc_client_secret="x"
    )
    client = OidcClient(settings)
    good = provider_id_token(provider.issuer, "tidegate", "n-1")
    claims = asyncio.run(client.verify_id_token(good, "n-1"))
    assert (claims["sub"], claims["preferred_username"]) == ("u-carol", "carol")

    def refused(token: str, nonce: str, verifier: OidcClient = client) -> str:
        with pytest.raises(SignInRefused) as caught:
            asyncio.run(verifier.verify_id_token(token, nonce))
        return caught.value.message

    elsewhere = provider_id_token(provider.issuer, "another-app", "n-1")
    assert "aud" in refused(elsewhere, "n-1")
    assert "nonce" in refused(good, "n-2")
    head, body, signature = good.split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    assert "signature" in refused(f"{head}.{body}.{flipped}", "n-1").lower()
    later = OidcClient(settings, clock=lambda: time.time() + 2 * 3600)
    assert "exp" in refused(good, "n-1", later)

    # The issuer must be exactly the one the provider names (here: one slash more).
    slashed = Settings(
        oidc_issuer=provider.issuer + "/", oidc_client_id="tidegate", oidc_client_secret="x"
    )
    with pytest.raises(SignInRefused) as caught:
        asyncio.run(OidcClient(slashed).provider())
    assert caught.value.status == 502 and "calls itself" in caught.value.message
