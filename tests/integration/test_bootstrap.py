"""First start: an admin token and one hook per source on an empty database, once."""

from __future__ import annotations

import json
from pathlib import Path

from tidegate.cli.first_start import bootstrap, credentials_path
from tidegate.config import Settings
from tidegate.store import credentials
from tidegate.store.db import Database
from tidegate.store.migrate import upgrade


def test_first_start_only_once_even_with_every_credential_revoked(
    tmp_path: Path, database_url: str
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    db = Database(settings.db_url)
    try:
        upgrade(db.engine)
        first = bootstrap(settings, db)
        assert first is not None and first.admin_token.startswith("tga_")
        saved = json.loads(credentials_path(settings).read_text())
        assert saved["admin_token"] == first.admin_token
        assert credentials_path(settings).stat().st_mode & 0o777 == 0o600

        assert bootstrap(settings, db) is None  # not a first start any more
        with db.session() as session:
            for token in credentials.list_api_tokens(session):
                credentials.revoke_api_token(session, token.id)
            for hook in credentials.list_hooks(session):
                credentials.revoke_hook(session, hook.id)
        # Revoking everything must not mint a new admin token on the next start.
        assert bootstrap(settings, db) is None
        with db.session() as session:
            assert credentials.list_api_tokens(session) == []
            assert credentials.find_api_token(session, first.admin_token) is None
    finally:
        db.dispose()
