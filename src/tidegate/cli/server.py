"""`serve` and `db upgrade`."""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from tidegate import logs
from tidegate.cli.base import app, db_app, err, fail, out, settings
from tidegate.cli.data_files import FirstRun, credentials_path, record_server
from tidegate.cli.database import local_db
from tidegate.cli.first_start import bootstrap
from tidegate.config import Settings, load_settings


def shortened(url: str) -> str:
    """A hook URL with its token cut to both ends: a server's output often ends up in a
    log collector, and the whole token opens the webhook."""
    base, _, token = url.rpartition("/")
    return f"{base}/{token[:8]}…{token[-5:]}" if len(token) > 16 else url


def listen_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port, found before anything starts
    (uvicorn only says `[Errno 98]` and exits 3)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        return f"cannot listen on {host}: {exc.strerror}; pass --host or set TIDEGATE_HOST"
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by a stopped server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} is in use: pass --port or set TIDEGATE_PORT"
            return (
                f"cannot listen on {host}:{port}: {exc.strerror}; "
                "pass --host and --port, or set TIDEGATE_HOST and TIDEGATE_PORT"
            )
    return None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workflows: Annotated[Path | None, typer.Option(help="Workflows directory.")] = None,
) -> None:
    """Run the server: webhooks, API and the engine, in one process."""
    # Imported here for start-up speed: the other commands need neither.
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
    problem = listen_problem(cfg.host, cfg.port)
    if problem:
        raise fail(problem)
    logs.configure(cfg.log_format)
    db = local_db(cfg)
    first = bootstrap(cfg, db)
    db.dispose()
    record_server(cfg)  # where `tidegate runs` and the others find this server
    _banner(cfg, first)
    # log_config=None: uvicorn's records go through the handler `configure` set.
    app = create_app(cfg)
    app.state.freeze_heap = True  # this process serves until it ends (app.py)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning", log_config=None)


def _banner(cfg: Settings, first: FirstRun | None) -> None:
    lines = [f"Tidegate on {cfg.base_url} — workflows from {cfg.workflows.resolve()}"]
    if first is not None:
        lines.append("First start: created an admin API token and one webhook per source.")
        lines += [
            f"  POST {source} webhooks to: {shortened(url)}" for source, url in first.hooks.items()
        ]
        if first.admin_password:
            lines.append(f"  Sign in at {cfg.base_url}/ as admin, password in the file below")
        lines.append(f"  Whole URLs, token and password (owner-only): {credentials_path(cfg)}")
    else:
        lines.append("Webhook URLs: `tidegate hook create SOURCE` prints a new one.")
    for line in lines:
        if cfg.log_format == "json":  # every line on stderr is JSON for a log shipper
            logs.note("serve.started", line.strip())
        else:
            err.print(line, highlight=False, markup=False, soft_wrap=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to this version."""
    local_db(settings()).dispose()
    out.print("database is up to date")
