"""A newcomer's first start: one webhook per source, an admin token, and a user `admin` to
sign in to the web UI with, written down once in the data directory (`data_files`).
"""

from __future__ import annotations

import secrets

from tidegate.cli.data_files import FirstRun, credentials_path, write_private
from tidegate.config import Settings
from tidegate.events.hooks import create_hook
from tidegate.events.sources import SOURCES
from tidegate.security.passwords import hash_password
from tidegate.security.tokens import API_PREFIX, new_token
from tidegate.store import credentials, users
from tidegate.store.db import Database

__all__ = ["FirstRun", "bootstrap", "credentials_path"]


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
            if hook.secret:  # a source that signs: `tidegate simulate` signs with it
                first.hook_secrets[source] = hook.secret
    written: dict[str, object] = {"admin_token": first.admin_token, "hooks": first.hooks}
    written["hook_secrets"] = first.hook_secrets
    if first.admin_password:
        written["admin_password"] = first.admin_password
    write_private(credentials_path(settings), written)
    return first
