"""A PostgreSQL server of the tests' own, from Debian's server binaries (initdb, pg_ctl),
in a temporary directory on a port the OS hands out: for runs without
TIDEGATE_TEST_POSTGRES_URL, as the tests start their own registries and Podman.

PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user
(which Debian's package creates), in a directory of its own under /tmp (pytest's
temporary directories are root's alone).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests import machine
from tests.support import free_port, require


def _server_user() -> str | None:
    """Who runs the server: None (this process's user) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise AssertionError("running as root, and there is no postgres or nobody user to drop to")


@dataclass
class TempPostgres:
    """initdb + pg_ctl: trust auth for `postgres` on 127.0.0.1, no fsync (a test
    database is thrown away), `url` for its `postgres` database."""

    port: int = 0
    root: Path = field(init=False)
    bindir: Path = field(init=False)
    user: str | None = field(init=False, default=None)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, user=self.user, capture_output=True, text=True, check=False, cwd=self.root
        )

    def start(self) -> TempPostgres:
        bindir = machine.postgres_bindir()
        require(
            bindir is not None,
            "PostgreSQL's server binaries (initdb, pg_ctl) are missing and "
            "TIDEGATE_TEST_POSTGRES_URL is not set "
            f"({machine.how_to_get([machine.POSTGRES_PACKAGE])})",
        )
        assert bindir is not None
        self.bindir = bindir
        self.user = _server_user()
        self.root = Path(tempfile.mkdtemp(prefix="tidegate-test-pg-"))
        if self.user is not None:
            shutil.chown(self.root, self.user)
        done = self._run(
            str(bindir / "initdb"),
            "--pgdata",
            str(self.root / "data"),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        )
        assert done.returncode == 0, f"initdb failed: {done.stdout}{done.stderr}"
        for _ in range(5):  # another process may take the port between asking and binding
            self.port = free_port()
            options = " ".join(
                [
                    f"-c port={self.port}",
                    "-c listen_addresses=127.0.0.1",
                    f"-c unix_socket_directories={self.root}",
                    "-c max_connections=300",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                ]
            )
            started = self._run(
                str(bindir / "pg_ctl"),
                "--pgdata",
                str(self.root / "data"),
                "--log",
                str(self.root / "server.log"),
                "--options",
                options,
                "--wait",
                "--timeout=60",
                "start",
            )
            if started.returncode == 0:
                return self
        log = (self.root / "server.log").read_text(errors="replace")[-2000:]
        raise AssertionError(f"PostgreSQL did not start: {started.stderr}{log}")

    def stop(self) -> None:
        if not hasattr(self, "root"):
            return
        self._run(
            str(self.bindir / "pg_ctl"),
            "--pgdata",
            str(self.root / "data"),
            "--mode",
            "immediate",
            "--wait",
            "stop",
        )
        shutil.rmtree(self.root, ignore_errors=True)
