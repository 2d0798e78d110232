"""Test helpers: a Tidegate server in a thread on a free port, and polling with deadlines."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
import uvicorn

from tidegate.app import create_app
from tidegate.cli.first_start import FirstRun, bootstrap
from tidegate.config import Settings
from tidegate.events.sources.dockerhub import dockerhub_payload
from tidegate.events.sources.registry import registry_payload
from tidegate.security.tokens import new_token
from tidegate.store import credentials
from tidegate.store.db import Database
from tidegate.store.migrate import upgrade

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# `scripts/test --quick`: tests whose real parts (container tools, PostgreSQL's server,
# Chromium) are missing skip instead of failing. Never in CI.
QUICK = os.environ.get("TIDEGATE_TEST_QUICK", "").lower() in ("1", "true", "yes")
QUICK_SKIP = "quick run, missing"


def require(condition: bool, reason: str) -> None:
    """Fail when a part a test needs is missing, saying what to install: a run is green
    only when the real parts ran. A quick run (not in CI) skips such a test instead."""
    if condition:
        return
    if QUICK and not IN_CI:
        pytest.skip(f"{QUICK_SKIP}: {reason}")
    pytest.fail(f"missing: {reason}", pytrace=False)


FINAL = ("succeeded", "failed", "cancelled", "timed_out")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(check: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s; last value: {last!r}")


class RunsApi:
    """Reading runs through the API, for any server under test."""

    url: str
    admin_token: str

    def client(self, token: str | None = None) -> httpx2.Client:
        return httpx2.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.admin_token}"},
            timeout=30,
        )

    def run(self, run_id: str) -> dict[str, Any]:
        with self.client() as c:
            response = c.get(f"/api/v1/runs/{run_id}")
            response.raise_for_status()
            return dict(response.json())

    def wait_run(
        self, run_id: str, statuses: tuple[str, ...] = FINAL, timeout: float = 60
    ) -> dict[str, Any]:
        return eventually(
            lambda: r if (r := self.run(run_id))["status"] in statuses else None, timeout
        )


@dataclass
class Server(RunsApi):
    url: str
    settings: Settings = field(repr=False)
    admin_token: str = field(repr=False)
    hooks: dict[str, str] = field(repr=False)
    _thread: threading.Thread | None = None
    _server: uvicorn.Server | None = None
    tokens: dict[str, str] = field(default_factory=dict, repr=False)

    def token(self, user: str, role: str) -> str:
        """An API token for `user` with `role`, created on the server's database."""
        key = f"{user}:{role}"
        if key not in self.tokens:
            token = new_token("tga_")
            db = Database(self.settings.db_url)
            with db.session() as session:
                credentials.create_api_token(session, user, role, token)
            db.dispose()
            self.tokens[key] = token
        return self.tokens[key]

    def post_hook(
        self, source: str, body: bytes, content_type: str = "application/json"
    ) -> httpx2.Response:
        return httpx2.post(
            self.hooks[source], content=body, headers={"Content-Type": content_type}, timeout=30
        )

    def logs(self, run_id: str) -> str:
        with self.client() as c:
            return str(c.get(f"/api/v1/runs/{run_id}/logs").text)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)


def make_settings(tmp: Path, database_url: str = "", **overrides: Any) -> Settings:
    port = overrides.pop("port", None) or free_port()
    values: dict[str, Any] = {
        "data_dir": tmp / "data",
        "workflows": tmp / "workflows",
        "port": port,
        "database_url": database_url,
        "callback_backoff": 0.05,
        "kill_grace": 1.0,
        # Tests talk to loopback only, listed by name (loopback is private: `*` would not
        # reach it), on any port (test registries' ports vary): a Docker Hub event is
        # never resolved against it.
        "registry_allowed_hosts": ["127.0.0.1:*", "localhost:*"],
    }
    values.update(overrides)
    (tmp / "workflows").mkdir(parents=True, exist_ok=True)
    return Settings(**values)


def _more_credentials(settings: Settings, db: Database) -> FirstRun:
    """A second server on a database that already has its first hooks: make its own."""
    first = FirstRun(admin_token=new_token("tga_"))
    with db.session() as session:
        credentials.create_api_token(session, "admin", "admin", first.admin_token)
        for source in ("dockerhub", "registry"):
            token = new_token("tgh_")
            credentials.create_hook(session, source, f"{source} (test)", token)
            first.hooks[source] = f"{settings.base_url}/hooks/{source}/{token}"
    return first


def start_server(settings: Settings, *, freeze_heap: bool = False) -> Server:
    """Migrate, bootstrap, and serve in a thread; returns once the engine is up.
    `freeze_heap`: as `tidegate serve` does (app.py); for a bench's one server."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    upgrade(db.engine)
    first = bootstrap(settings, db) or _more_credentials(settings, db)
    db.dispose()
    app = create_app(settings)
    app.state.freeze_heap = freeze_heap
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=settings.port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    handle = Server(
        url=f"http://127.0.0.1:{settings.port}",
        settings=settings,
        admin_token=first.admin_token,
        hooks=first.hooks,
        _thread=thread,
        _server=server,
    )

    def ready() -> bool:
        try:
            return httpx2.get(f"{handle.url}/readyz", timeout=2).status_code == 200
        except httpx2.TransportError:
            return False

    eventually(ready, timeout=60)
    return handle


def post_push(
    server: Server, reference: str, source: str = "dockerhub", **kwargs: str
) -> list[str]:
    """Post a simulated push of `reference` (Docker Hub's webhook, or a Distribution
    registry's with source="registry"); returns the ids of the runs it started."""
    if source == "dockerhub":
        response = server.post_hook("dockerhub", dockerhub_payload(reference, **kwargs))
    else:
        body = registry_payload(reference, **kwargs)
        response = server.post_hook(
            "registry", body, "application/vnd.docker.distribution.events.v2+json"
        )
    assert response.status_code == 202, response.text
    return list(response.json()["runs"])


def write_workflow(settings: Settings, name: str, text: str) -> Path:
    path = Path(settings.workflows) / f"{name}.yaml"
    path.write_text(text)
    return path


@dataclass
class ServeProcess(RunsApi):
    """`tidegate serve` as a real process, for crash tests and the CLI."""

    env: dict[str, str]
    cwd: Path
    url: str
    proc: Any = None
    admin_token: str = ""
    hooks: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()  # after `tidegate serve`, e.g. ("--port", "9090")

    def start(self) -> ServeProcess:
        import json
        import subprocess
        import sys

        log = open(self.cwd / "serve.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tidegate", "serve", *self.args],
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"tidegate serve exited: {(self.cwd / 'serve.log').read_text()}"
                )
            try:
                return httpx2.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx2.TransportError:
                return False

        eventually(ready, timeout=60, interval=0.1)
        creds = json.loads((Path(self.env["TIDEGATE_DATA_DIR"]) / "credentials.json").read_text())
        self.admin_token, self.hooks = creds["admin_token"], creds["hooks"]
        return self

    def kill9(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except Exception:
                self.proc.kill()
                self.proc.wait(timeout=30)


def serve_env(tmp: Path, database_url: str = "", **extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
    port = free_port()
    env.update(
        {
            "TIDEGATE_DATA_DIR": str(tmp / "data"),
            "TIDEGATE_WORKFLOWS": str(tmp / "workflows"),
            "TIDEGATE_PORT": str(port),
            "TIDEGATE_URL": f"http://127.0.0.1:{port}",
            "TIDEGATE_CALLBACK_BACKOFF": "0.05",
            "TIDEGATE_KILL_GRACE": "1",
            "TIDEGATE_REGISTRY_ALLOWED_HOSTS": "127.0.0.1:*,localhost:*",
        }
    )
    if database_url:
        env["TIDEGATE_DATABASE_URL"] = database_url
    env.update(extra)
    (tmp / "workflows").mkdir(parents=True, exist_ok=True)
    return env
