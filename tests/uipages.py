"""Helpers for tests of the web pages: people who sign in, and what a page holds."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2

from tests.support import Server
from tidegate.security.passwords import hash_password
from tidegate.store import users
from tidegate.store.db import Database

PASSWORD = "correct horse battery staple"


def add_user(server: Server, name: str, role: str, password: str = PASSWORD) -> None:
    db = Database(server.settings.db_url)
    with db.session() as session:
        users.create_user(session, name, role, hash_password(password))
    db.dispose()


@contextmanager
def sign_in(server: Server, name: str, password: str = PASSWORD) -> Iterator[httpx2.Client]:
    """A browser signed in as `name` (an existing user)."""
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        token = csrf(browser.get("/login").text)
        data = {"name": name, "password": password, "csrf_token": token}
        answer = browser.post("/login", data=data)
        assert answer.status_code == 303, answer.text
        yield browser


def can_sign_in(server: Server, name: str, password: str) -> bool:
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        token = csrf(browser.get("/login").text)
        data = {"name": name, "password": password, "csrf_token": token}
        return browser.post("/login", data=data).status_code == 303


@contextmanager
def person(server: Server, name: str, role: str) -> Iterator[httpx2.Client]:
    """A new user with `role`, signed in."""
    add_user(server, name, role)
    with sign_in(server, name) as browser:
        yield browser


def csrf(page: str) -> str:
    """The CSRF token the page's forms carry."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def text(page: str) -> str:
    """The page without its tags, entities decoded, spaces collapsed: what a reader sees."""
    inline = re.sub(r"</?(?:a|span|code|strong|em|time)\b[^>]*>", "", page)
    bare = re.sub(r"<[^>]+>", " ", inline)
    return re.sub(r"\s+", " ", html.unescape(bare))
