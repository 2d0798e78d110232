"""`tidegate prune`: retention now, on this machine's database (docs/operations.md,
Retention); `--dry-run` counts what would go and changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tidegate.cli.base import app, err, out, print_json, settings

if TYPE_CHECKING:
    from tidegate.store.pruning import RunParts


@app.command()
def prune(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, remove nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Remove what the retention settings no longer keep: old runs and their logs,
    events, audit entries, workspaces (the server does it every `prune_interval`)."""
    # Imported here: only this command needs the database and the engine's parts.
    from tidegate.cli.database import local_db
    from tidegate.engine import prune as pruning
    from tidegate.engine.runtime import Runtime
    from tidegate.security.allowlist import AllowList

    cfg = settings()
    db = local_db(cfg)
    runtime = Runtime(
        settings=cfg, db=db, executors={}, callback_allow=AllowList([]), notify_allow=AllowList([])
    )
    with _durable_records(cfg.system_db_url) as forget:
        removed = pruning.prune_once(runtime, dry_run=dry_run, forget=forget)
    db.dispose()
    if removed is None:
        out.print("another process is pruning now: nothing done")
    elif as_json:
        print_json({"dry_run": dry_run, **removed.counts(), "seconds": round(removed.seconds, 3)})
    elif dry_run:
        out.print(pruning.describe(removed, "would remove"))
    else:
        out.print(pruning.describe(removed))


@contextmanager
def _durable_records(url: str) -> Iterator[Callable[[dict[str, RunParts]], None]]:
    """Removes the pruned runs' DBOS records through a client (no engine runs here);
    nothing when the engine never ran on this database."""
    path = Path(url.removeprefix("sqlite:///"))
    if url.startswith("sqlite") and not path.exists():
        yield lambda _ids: None
        return
    from dbos import DBOSClient

    from tidegate.engine.prune import durable_ids

    client = DBOSClient(
        system_database_url=url.replace("postgresql+psycopg://", "postgresql://", 1), lazy=True
    )
    failed: list[str] = []

    def forget(gone: dict[str, RunParts]) -> None:
        if failed:
            return
        try:
            client.delete_workflows(durable_ids(gone))
        except Exception as exc:  # no DBOS schema here: the engine never ran on it
            failed.append(f"{type(exc).__name__}")
            err.print(f"the engine's records were left as they are ({failed[0]})")

    try:
        yield forget
    finally:
        client.destroy()
