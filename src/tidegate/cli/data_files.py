"""What the data directory holds for the commands on this machine: the first start's
secrets (`credentials.json`) and where the last `serve` listens (`server.json`).

Like Jenkins' initialAdminPassword, the secrets go to a file only the owner can read;
`tidegate` commands on the same machine find them there, and find a server started
with `--port` without being told. Plain files and JSON: every command that talks to the
API reads them, and none of them needs the database for it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tidegate.config import Settings

CREDENTIALS_FILE = "credentials.json"
SERVER_FILE = "server.json"


@dataclass
class FirstRun:
    admin_token: str = ""
    hooks: dict[str, str] = field(default_factory=dict)
    admin_password: str = ""  # of the user `admin`, for the web UI
    hook_secrets: dict[str, str] = field(default_factory=dict)  # of the hooks that have one


def credentials_path(settings: Settings) -> Path:
    return settings.data_dir / CREDENTIALS_FILE


def write_private(path: Path, data: dict[str, object]) -> None:
    """`data` as JSON in a file only the owner can read (it may hold secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)


def read_credentials(settings: Settings) -> FirstRun | None:
    path = credentials_path(settings)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return FirstRun(
        admin_token=data.get("admin_token", ""),
        hooks=data.get("hooks", {}),
        admin_password=data.get("admin_password", ""),
        hook_secrets=data.get("hook_secrets", {}),
    )


@dataclass(frozen=True)
class ServerRecord:
    """Where the last `serve` with this data directory listened."""

    url: str  # for commands on this machine: loopback when it listened on every address
    base_url: str  # its public base URL (hook URLs, run pages)


def local_url(settings: Settings) -> str:
    """The URL a client on this machine reaches the server's address and port by."""
    # Listening on every address: loopback is one of them.
    every = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104
    host = every.get(settings.host, settings.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def record_server(settings: Settings) -> Path:
    path = settings.data_dir / SERVER_FILE
    write_private(
        path, {"url": local_url(settings), "base_url": settings.base_url, "pid": os.getpid()}
    )
    return path


def read_server(settings: Settings) -> ServerRecord | None:
    path = settings.data_dir / SERVER_FILE
    try:
        data = json.loads(path.read_text())
        return ServerRecord(url=str(data["url"]), base_url=str(data["base_url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
