"""Browser tests' parts: a real `tidegate serve` with people to sign in as.

The browser itself (Debian's Chromium) comes from the `browser` and `page` fixtures in
tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support import ServeProcess, serve_env
from tidegate.config import Settings
from tidegate.security.passwords import hash_password
from tidegate.store import users
from tidegate.store.db import Database
from tidegate.store.migrate import upgrade

PASSWORD = "correct horse battery staple"
PEOPLE = {"alice": "approver", "vera": "viewer", "ada": "admin"}


@dataclass
class UiServer:
    """A running server and the people who can sign in to it."""

    serve: ServeProcess
    workflows: Path
    people: dict[str, str] = field(default_factory=lambda: dict(PEOPLE))

    @property
    def url(self) -> str:
        return self.serve.url

    def write_workflow(self, name: str, text: str) -> None:
        (self.workflows / f"{name}.yaml").write_text(text)


def add_people(env: dict[str, str], database_url: str, people: dict[str, str]) -> None:
    settings = Settings(data_dir=Path(env["TIDEGATE_DATA_DIR"]), database_url=database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    try:
        upgrade(db.engine)
        with db.session() as session:
            for name, role in people.items():
                users.create_user(session, name, role, hash_password(PASSWORD))
    finally:
        db.dispose()


def start_ui_server(tmp_path: Path, database_url: str, **extra: str) -> Iterator[UiServer]:
    env = serve_env(tmp_path, database_url, **extra)
    add_people(env, database_url, PEOPLE)
    serve = ServeProcess(env=env, cwd=tmp_path, url=env["TIDEGATE_URL"]).start()
    handle = UiServer(serve=serve, workflows=Path(env["TIDEGATE_WORKFLOWS"]))
    try:
        yield handle
    finally:
        serve.stop()


def sign_in(page: Page, server: UiServer, name: str, path: str = "/") -> None:
    """Sign in as `name` through the form, landing on `path`."""
    page.goto(f"{server.url}{path}")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
