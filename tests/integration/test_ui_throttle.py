"""Guessing passwords at the sign-in form: slowed down with 429 and Retry-After."""

from __future__ import annotations

import httpx2

from tests.integration.test_ui_signin import PASSWORD, add_user, login_token
from tests.support import Server


def test_after_five_failures_even_the_right_password_waits(server: Server) -> None:
    add_user(server, "alice", "approver")
    add_user(server, "bob", "viewer")
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        token = login_token(browser)

        def attempt(name: str, password: str) -> httpx2.Response:
            data = {"name": name, "password": password, "csrf_token": token}
            return browser.post("/login", data=data)

        for _ in range(5):
            assert attempt("alice", "not-her-password").status_code == 401
        slowed = attempt("alice", PASSWORD)
        assert slowed.status_code == 429
        assert 1 <= int(slowed.headers["retry-after"]) <= 10
        assert "Too many failed sign-ins" in slowed.text
        assert "tidegate_session" not in browser.cookies
        # Another name from the same address is not held up by alice's failures.
        answer = attempt("bob", PASSWORD)
        assert answer.status_code == 303 and "tidegate_session" in browser.cookies
