"""The commands that work on the database itself (hooks, tokens, users, `db upgrade`):
it opened, secured and migrated, and rows listed or revoked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tidegate.cli.base import fail, out, print_json, settings, shown_time, table
from tidegate.config import Settings
from tidegate.security.datadir import secure_data_dir
from tidegate.store.db import Database
from tidegate.store.migrate import upgrade


def local_db(cfg: Settings) -> Database:
    """The configured database, migrated to this version (a no-op when it is current)."""
    secure_data_dir(cfg.data_dir, cfg.sqlite_files)
    db = Database(cfg.db_url)
    upgrade(db.engine)
    return db


def listing(rows_of: Callable[[Session], Sequence[Any]], columns: list[str], as_json: bool) -> None:
    """Rows read from the database, shown by `columns` (times as ISO 8601)."""
    with local_db(settings()).session() as session:
        rows = [{c: _shown(getattr(row, c)) for c in columns} for row in rows_of(session)]
    print_json(rows) if as_json else table(rows, columns)


def revoke(what: str, row_id: str, revoking: Callable[[Session, str], object | None]) -> None:
    """Revoke hook or token `row_id` in the database; a clear error if there is none."""
    with local_db(settings()).session() as session:
        row = revoking(session, row_id)
    if row is None:
        raise fail(f"{what} {row_id} does not exist")
    out.print(f"{what} {row_id} revoked")


def _shown(value: object) -> object:
    return shown_time(value) if isinstance(value, datetime) else value
