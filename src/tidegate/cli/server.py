"""`serve` and `db upgrade`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tidegate.bootstrap import bootstrap, credentials_path
from tidegate.cli.base import app, db_app, err, local_db, out, settings
from tidegate.config import load_settings
from tidegate.security.datadir import secure_data_dir
from tidegate.store.db import Database
from tidegate.store.migrate import upgrade


def shortened(url: str) -> str:
    """A hook URL with its token cut to both ends: a server's output often ends up in a
    log collector, and the whole token opens the webhook."""
    base, _, token = url.rpartition("/")
    return f"{base}/{token[:8]}…{token[-5:]}" if len(token) > 16 else url


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workflows: Annotated[Path | None, typer.Option(help="Workflows directory.")] = None,
) -> None:
    """Run the server: webhooks, API and the engine, in one process."""
    import uvicorn

    from tidegate.app import create_app

    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    if workflows:
        overrides["workflows"] = workflows
    cfg = load_settings(**overrides)
    db = local_db(cfg)
    first = bootstrap(cfg, db)
    db.dispose()
    err.print(f"Tidegate on {cfg.base_url} — workflows from {cfg.workflows.resolve()}")
    if first:
        err.print("First start: created an admin API token and one webhook per source.")
        for source, url in first.hooks.items():
            err.print(f"  POST {source} webhooks to: {shortened(url)}")
        err.print(f"  Whole URLs and the token (owner-only): {credentials_path(cfg)}")
    else:
        err.print("Webhook URLs: `tidegate hook create SOURCE` prints a new one.")
    uvicorn.run(create_app(cfg), host=cfg.host, port=cfg.port, log_level="warning")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to this version."""
    cfg = settings()
    secure_data_dir(cfg.data_dir, cfg.sqlite_files)
    db = Database(cfg.db_url)
    upgrade(db.engine)
    out.print("database is up to date")
