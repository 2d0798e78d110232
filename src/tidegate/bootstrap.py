"""A newcomer's first start: one webhook per source and an admin token, written down once.

Like Jenkins' initialAdminPassword, the secrets go to a file only the owner can read,
in the data directory; `tidegate` commands on the same machine find them there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tidegate.config import Settings
from tidegate.security.tokens import new_token
from tidegate.store import credentials
from tidegate.store.db import Database

CREDENTIALS_FILE = "credentials.json"
FIRST_SOURCES = ("dockerhub", "registry")


@dataclass
class FirstRun:
    admin_token: str = ""
    hooks: dict[str, str] = field(default_factory=dict)


def credentials_path(settings: Settings) -> Path:
    return settings.data_dir / CREDENTIALS_FILE


def bootstrap(settings: Settings, db: Database) -> FirstRun | None:
    """Create the first hooks and admin token on an empty database; None otherwise."""
    with db.session() as session:
        # Ever had any, revoked or not: revoking every token must not mint a new admin.
        if credentials.list_hooks(session, include_revoked=True) or credentials.list_api_tokens(
            session, include_revoked=True
        ):
            return None
        first = FirstRun(admin_token=new_token("tga_"))
        credentials.create_api_token(session, "admin", "admin", first.admin_token)
        for source in FIRST_SOURCES:
            token = new_token("tgh_")
            credentials.create_hook(session, source, f"{source} (first start)", token)
            first.hooks[source] = f"{settings.base_url}/hooks/{source}/{token}"
    path = credentials_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"admin_token": first.admin_token, "hooks": first.hooks}, handle, indent=2)
    return first


def read_credentials(settings: Settings) -> FirstRun | None:
    path = credentials_path(settings)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return FirstRun(admin_token=data.get("admin_token", ""), hooks=data.get("hooks", {}))
