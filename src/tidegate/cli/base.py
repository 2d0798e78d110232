"""What every command shares: the Typer apps, the consoles, settings, the API client."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from tidegate.apiclient import ApiClient, ApiError
from tidegate.bootstrap import read_credentials
from tidegate.config import Settings, load_settings
from tidegate.security.datadir import secure_data_dir
from tidegate.store.db import Database
from tidegate.store.migrate import upgrade

# Tracebacks never print local variables: they may hold tokens and database URLs.
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Tidegate: registry webhooks → digest-pinned workflows → promotion.",
    pretty_exceptions_show_locals=False,
)
hook_app = typer.Typer(no_args_is_help=True, help="Webhook endpoints.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens.")
db_app = typer.Typer(no_args_is_help=True, help="The database schema.")
app.add_typer(hook_app, name="hook")
app.add_typer(token_app, name="token")
app.add_typer(db_app, name="db")

# Piped output is not cut to 80 columns: ids must survive `grep` and `awk`.
out = Console(width=None if sys.stdout.isatty() else 250)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 250)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def settings() -> Settings:
    return load_settings()


def local_db(cfg: Settings) -> Database:
    """The configured database, migrated to this version (a no-op when it is current)."""
    secure_data_dir(cfg.data_dir, cfg.sqlite_files)
    db = Database(cfg.db_url)
    upgrade(db.engine)
    return db


def client() -> ApiClient:
    cfg = settings()
    token = cfg.token.get_secret_value() if cfg.token else None
    if token is None:
        first = read_credentials(cfg)  # a newcomer's server on this machine
        token = first.admin_token if first else None
    return ApiClient(cfg.url, token)


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ApiError as exc:
        raise fail(exc.message) from exc
    except OSError as exc:
        raise fail(f"cannot reach the server: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith("httpx"):
            raise fail(f"cannot reach the server: {exc}") from exc
        raise


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    t = Table(*columns, box=None, pad_edge=False)
    for row in rows:
        t.add_row(*(_cell(row.get(c)) for c in columns))
    out.print(t)


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


def _cell(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _shown(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value
