"""Signing in and out of the web UI with a local user; CSRF and cookies."""

from __future__ import annotations

import re

import httpx2

from tests.support import Server
from tidegate.security.passwords import hash_password
from tidegate.store import users
from tidegate.store.db import Database
from tidegate.store.models import WebSession

PASSWORD = "correct horse battery staple"


def add_user(server: Server, name: str, role: str, password: str = PASSWORD) -> None:
    db = Database(server.settings.db_url)
    with db.session() as session:
        users.create_user(session, name, role, hash_password(password))
    db.dispose()


def login_token(client: httpx2.Client) -> str:
    form = client.get("/login")
    assert form.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert match
    return match.group(1)


def test_sign_in_lands_on_the_page_asked_for_and_sign_out_ends_it(server: Server) -> None:
    add_user(server, "alice", "approver")
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        # An unauthenticated visitor of a form is sent to sign in first.
        bounced = browser.post("/logout", data={"csrf_token": "x"})
        assert bounced.status_code == 303 and bounced.headers["location"] == "/login"
        token = login_token(browser)
        wrong = browser.post(
            "/login", data={"name": "alice", "password": "nope-nope", "csrf_token": token}
        )
        assert wrong.status_code == 401 and "do not match" in wrong.text
        assert "tidegate_session" not in browser.cookies
        answer = browser.post(
            "/login",
            data={
                "name": "alice",
                "password": PASSWORD,
                "csrf_token": token,
                "next": "/runs/run_x",
            },
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/runs/run_x"
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Secure" not in cookie  # the public URL is http here
        # Signed in, /login sends onwards; the session's forms carry its token.
        again = browser.get("/login?next=/approvals")
        assert again.status_code == 303 and again.headers["location"] == "/approvals"
        forged = browser.post("/logout", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        page = browser.get("/login", follow_redirects=False)
        assert page.status_code == 303
        # Sign out with the session's own token (read from any page's sign-out form).
        db = Database(server.settings.db_url)
        with db.session() as session:
            csrf = session.query(WebSession).one().csrf
        db.dispose()
        out = browser.post("/logout", data={"csrf_token": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert browser.get("/login").status_code == 200  # signed out


def test_the_sign_in_form_refuses_a_foreign_csrf_token_and_other_hosts(server: Server) -> None:
    add_user(server, "bob", "viewer")
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        login_token(browser)
        answer = browser.post(
            "/login", data={"name": "bob", "password": PASSWORD, "csrf_token": "forged"}
        )
        assert answer.status_code == 401 and "expired" in answer.text
        token = login_token(browser)
        answer = browser.post(
            "/login",
            data={
                "name": "bob",
                "password": PASSWORD,
                "csrf_token": token,
                "next": "//evil.example.com/",
            },
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_pages_carry_the_security_headers(server: Server) -> None:
    answer = httpx2.get(f"{server.url}/login", timeout=30)
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in answer.text  # no inline script anywhere on the page
    assert httpx2.get(f"{server.url}/static/htmx-2.0.11.min.js", timeout=30).status_code == 200
