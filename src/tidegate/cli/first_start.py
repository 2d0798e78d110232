"""A newcomer's first start: one webhook per source, an admin token, and a user `admin` to
sign in to the web UI with, written down once.

Like Jenkins' initialAdminPassword, the secrets go to a file only the owner can read,
in the data directory; `tidegate` commands on the same machine find them there. Each
`serve` also writes down where it listens (`server.json`), so that those commands find
a server started with `--port` without being told.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from tidegate.config import Settings
from tidegate.events.hooks import create_hook
from tidegate.events.sources import SOURCES
from tidegate.security.passwords import hash_password
from tidegate.security.tokens import API_PREFIX, new_token
from tidegate.store import credentials, users
from tidegate.store.db import Database

CREDENTIALS_FILE = "credentials.json"
SERVER_FILE = "server.json"


@dataclass
class FirstRun:
    admin_token: str = ""
    hooks: dict[str, str] = field(default_factory=dict)
    admin_password: str = ""  # of the user `admin`, for the web UI


def credentials_path(settings: Settings) -> Path:
    return settings.data_dir / CREDENTIALS_FILE


def bootstrap(settings: Settings, db: Database) -> FirstRun | None:
    """Create the first hooks (one per source) and admin token on an empty database;
    None otherwise."""
    with db.session() as session:
        # Ever had any, revoked or not: revoking every token must not mint a new admin.
        if credentials.list_hooks(session, include_revoked=True) or credentials.list_api_tokens(
            session, include_revoked=True
        ):
            return None
        first = FirstRun(
            admin_token=new_token(API_PREFIX), admin_password=secrets.token_urlsafe(15)
        )
        credentials.create_api_token(session, "admin", "admin", first.admin_token)
        if users.find_user(session, "admin") is None:
            users.create_user(session, "admin", "admin", hash_password(first.admin_password))
        else:
            first.admin_password = ""  # made by hand before the first start: theirs
        for source in SOURCES:
            hook = create_hook(session, settings.base_url, source, f"{source} (first start)")
            first.hooks[source] = hook.url
    written: dict[str, object] = {"admin_token": first.admin_token, "hooks": first.hooks}
    if first.admin_password:
        written["admin_password"] = first.admin_password
    _write_private(credentials_path(settings), written)
    return first


def _write_private(path: Path, data: dict[str, object]) -> None:
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
    _write_private(
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
