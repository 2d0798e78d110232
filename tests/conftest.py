"""Shared fixtures: databases (SQLite and PostgreSQL) and a real server on loopback.

The PostgreSQL variants use TIDEGATE_TEST_POSTGRES_URL (a server with trust auth and a
database to connect to) when it is set; otherwise the tests start a server of their own
from Debian's binaries (tests/postgres.py), once per test process.

Tests may run in several processes at once (pytest-xdist): every part they start listens
on a port the OS hands out and keeps its files under the test's temporary directory.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser import CHROMIUM_FLAGS, chromium
from tests.parts import Podman
from tests.postgres import TempPostgres
from tests.support import QUICK_SKIP, Server, make_settings, require, start_server
from tidegate.registry.manifest_memory import MANIFESTS
from tidegate.registry.sightings import SIGHTINGS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """A quick run says, last, how many tests it skipped for want of a real part."""
    skipped = [
        r
        for r in terminalreporter.stats.get("skipped", [])
        if isinstance(r.longrepr, tuple) and QUICK_SKIP in str(r.longrepr[2])
    ]
    if skipped:
        terminalreporter.write_sep(
            "!",
            f"quick run: {len(skipped)} tests skipped for want of real parts "
            "(`scripts/test` without --quick runs them)",
            yellow=True,
        )


@pytest.fixture(autouse=True)
def _fresh_blob_sightings() -> None:
    """Each test starts knowing of no blob or manifest: test registries reuse their ports."""
    SIGHTINGS.clear()
    MANIFESTS.clear()


POSTGRES_URL = os.environ.get("TIDEGATE_TEST_POSTGRES_URL", "")
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server to make databases on: TIDEGATE_TEST_POSTGRES_URL's, or one
    started for this test process (and stopped at its end)."""
    if POSTGRES_URL:
        yield POSTGRES_URL
        return
    server = TempPostgres()
    try:
        yield server.start().url
    finally:
        server.stop()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database per test: a SQLite file, or a new PostgreSQL database."""
    yield from _fresh_database(request)


@pytest.fixture(scope="module", params=DATABASES)
def module_database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """As `database_url`, shared by a module's tests (for servers that are costly to start)."""
    yield from _fresh_database(request)


def _fresh_database(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        yield ""  # the settings default: SQLite files in the data dir
        return
    server: str = request.getfixturevalue("postgres_url")
    name = f"tg_{secrets.token_hex(6)}"
    admin_url = server.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        require(False, f"PostgreSQL at {server} is not reachable: {exc}")
    base = server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def server_factory(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Server]]:
    """Starts a Tidegate server (engine included) with setting overrides, in this process.

    DBOS is one per process, so a test runs one server at a time.
    """
    started: list[Server] = []

    def start(**overrides: Any) -> Server:
        handle = start_server(make_settings(tmp_path, database_url, **overrides))
        started.append(handle)
        return handle

    try:
        yield start
    finally:
        for handle in started:
            handle.stop()


@pytest.fixture
def server(server_factory: Callable[..., Server]) -> Server:
    """A Tidegate server on a fresh database with default settings."""
    return server_factory()


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    """Podman's Docker-compatible API on a unix socket of this test process's own (each
    xdist worker has one; they share the machine's image and container storage)."""
    handle = Podman(tmp_path_factory.mktemp("podman") / "podman.sock").start()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium through Playwright, one per test module.

    Not pytest-playwright's session-wide browser: its event loop would stay registered
    for the rest of the session, and the async tests after it could not run their own.
    """
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and a page in it, per test."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
