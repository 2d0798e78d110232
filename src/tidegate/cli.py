"""The `tidegate` command. Exit codes: 0 ok, 1 failure or invalid, 2 usage."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from tidegate import handpromote
from tidegate.apiclient import ApiClient, ApiError
from tidegate.bootstrap import bootstrap, credentials_path, read_credentials
from tidegate.config import Settings, load_settings
from tidegate.errors import TidegateError
from tidegate.events.binding import canonical_registries
from tidegate.events.grammar import text_problem
from tidegate.events.sources import SOURCES
from tidegate.security.datadir import secure_data_dir
from tidegate.security.tokens import new_token
from tidegate.simulate import CONTENT_TYPES, dockerhub_payload, registry_payload
from tidegate.store import credentials
from tidegate.store.credentials import ROLES, USER_MAX
from tidegate.store.db import Database
from tidegate.store.migrate import upgrade
from tidegate.workflows import WorkflowInvalid, load_workflow, workflow_json_schema

# Tracebacks never print local variables: they may hold tokens and database URLs.
app = typer.Typer(
    no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_show_locals=False
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


# --- server -------------------------------------------------------------------------


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


# --- workflows ----------------------------------------------------------------------


@app.command()
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories.")] = None,
) -> None:
    """Check workflow files; print each problem as file:line:column and exit 1 on any."""
    targets = paths or [settings().workflows]
    files: list[Path] = []
    for target in targets:
        if target.is_dir():
            found = [*target.glob("*.yaml"), *target.glob("*.yml")]
            # As the server reads a directory: editors' dotfiles are not workflows.
            files.extend(sorted(p for p in found if not p.name.startswith(".")))
        elif target.exists():
            files.append(target)
        else:
            raise fail(f"{target}: no such file or directory")
    problems = 0
    for path in files:
        try:
            load_workflow(path)
        except WorkflowInvalid as exc:
            for problem in exc.problems:
                err.print(str(problem), highlight=False, markup=False, soft_wrap=True)
                problems += 1
        else:
            out.print(f"{path}: ok", highlight=False)
    if problems:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the workflow file JSON Schema."""
    print_json(workflow_json_schema())


# --- hooks and tokens (on the database: they bootstrap access) --------------------


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


@hook_app.command("create")
def hook_create(
    source: Annotated[str, typer.Argument(help=f"One of: {', '.join(sorted(SOURCES))}")],
    name: Annotated[str, typer.Option(help="A name to recognise it by.")] = "",
    registry: Annotated[
        list[str] | None,
        typer.Option(
            "--registry",
            metavar="HOST[:PORT]",
            help="A registry this `registry` hook serves (repeatable): events naming "
            "another host are ignored, and Tidegate may contact this one even on a "
            "private address.",
        ),
    ] = None,
) -> None:
    """Create a webhook endpoint and print its URL (shown once: it holds the secret)."""
    if source not in SOURCES:
        raise fail(f"unknown source {source!r}; known: {', '.join(sorted(SOURCES))}")
    try:
        registries = canonical_registries(source, registry or [])
    except ValueError as exc:
        raise fail(str(exc)) from exc
    cfg = settings()
    db = local_db(cfg)
    token = new_token("tgh_")
    with db.session() as session:
        hook = credentials.create_hook(session, source, name or source, token, registries)
    out.print(f"{cfg.base_url}/hooks/{source}/{token}", highlight=False, soft_wrap=True)
    err.print(f"hook {hook.id} created; the URL is shown only now.")


@hook_app.command("list")
def hook_list(as_json: JsonFlag = False) -> None:
    """List live webhook endpoints (and the registries a `registry` hook serves)."""
    columns = ["id", "source", "name", "registries", "created_at"]
    listing(credentials.list_hooks, columns, as_json)


@hook_app.command("revoke")
def hook_revoke(hook_id: str) -> None:
    """Revoke a webhook endpoint: its URL answers 404 from now on."""
    revoke("hook", hook_id, credentials.revoke_hook)


@token_app.command("create")
def token_create(
    user: str,
    role: Annotated[str, typer.Option(help="admin, approver or viewer")] = "viewer",
) -> None:
    """Create an API token for USER and print it (shown once)."""
    if role not in ROLES:
        err.print(f"error: role must be one of {', '.join(ROLES)}")
        raise typer.Exit(2)
    problem = text_problem(user, USER_MAX)
    if problem is not None:
        err.print(f"error: the user name {problem}")
        raise typer.Exit(2)
    db = local_db(settings())
    token = new_token("tga_")
    with db.session() as session:
        row = credentials.create_api_token(session, user, role, token)
    out.print(token, highlight=False)
    err.print(f"token {row.id} created for {user} ({role}); it is shown only now.")


@token_app.command("list")
def token_list(as_json: JsonFlag = False) -> None:
    """List live API tokens (who and which role; never the tokens themselves)."""
    listing(credentials.list_api_tokens, ["id", "user", "role", "created_at"], as_json)


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke an API token: requests bearing it get 401 from now on."""
    revoke("token", token_id, credentials.revoke_api_token)


# --- reading --------------------------------------------------------------------


@app.command()
def events(as_json: JsonFlag = False, limit: int = 20) -> None:
    """Recent events."""
    rows = call(client().get, "/api/v1/events", limit=limit)
    if as_json:
        print_json(rows)
    else:
        table(rows, ["id", "source", "repository", "tag", "run_count", "received_at"])


@app.command()
def runs(
    as_json: JsonFlag = False,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    limit: int = 20,
) -> None:
    """Recent runs."""
    rows = call(client().get, "/api/v1/runs", limit=limit, status=status)
    if as_json:
        print_json(rows)
    else:
        table(rows, ["id", "workflow_name", "status", "image", "created_at"])


run_app = typer.Typer(no_args_is_help=True, help="One run.")
app.add_typer(run_app, name="run")


@run_app.command("show")
def run_show(run_id: str, as_json: JsonFlag = False) -> None:
    """A run: its jobs, steps, approvals and deliveries."""
    run = call(client().get, f"/api/v1/runs/{run_id}")
    if as_json:
        print_json(run)
        return
    out.print(f"[bold]{run['id']}[/bold] {run['workflow_name']} — {run['status']}")
    out.print(f"image {run['image']}", highlight=False)
    if run["error"]:
        out.print(f"error: {run['error']}", highlight=False)
    table(run["steps"], ["job_id", "index", "name", "status", "attempts", "exit_code"])
    for approval in run["approvals"]:
        out.print(f"approval {approval['id']} ({approval['job_id']}): {approval['status']}")


@app.command()
def logs(
    run_id: str,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Stream until the run ends.")
    ] = False,
) -> None:
    """A run's output."""
    api = client()
    if not follow:
        sys.stdout.write(call(api.get, f"/api/v1/runs/{run_id}/logs"))
        return
    try:
        for event, data in api.stream_events(f"/api/v1/runs/{run_id}/logs?follow=1"):
            if event == "end":
                err.print(f"run {data['status']}")
                return
            line = f"{data['ts']} {data['job']}#{data['step']} {data['stream']}: {data['text']}"
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except ApiError as exc:
        raise fail(exc.message) from exc


# --- acting ---------------------------------------------------------------------


def _approval_id(api: ApiClient, ref: str) -> str:
    if not ref.startswith("run_"):
        return ref
    run = call(api.get, f"/api/v1/runs/{ref}")
    pending = [a for a in run["approvals"] if a["status"] == "pending"]
    if len(pending) != 1:
        raise fail(f"run {ref} has {len(pending)} pending approvals; name one by its id")
    return str(pending[0]["id"])


def _decide(ref: str, decision: str, comment: str) -> None:
    api = client()
    approval_id = _approval_id(api, ref)
    result = call(api.post, f"/api/v1/approvals/{approval_id}/{decision}", {"comment": comment})
    out.print(f"approval {approval_id}: {result['status']}")


CommentOption = Annotated[str, typer.Option(help="Why.")]


@app.command()
def approve(
    ref: Annotated[str, typer.Argument(help="A run id or an approval id.")],
    comment: CommentOption = "",
) -> None:
    """Approve a waiting run."""
    _decide(ref, "approve", comment)


@app.command()
def reject(
    ref: Annotated[str, typer.Argument(help="A run id or an approval id.")],
    comment: CommentOption = "",
) -> None:
    """Reject a waiting run."""
    _decide(ref, "reject", comment)


@app.command()
def cancel(run_id: str) -> None:
    """Cancel a run; its finally steps still run."""
    call(client().post, f"/api/v1/runs/{run_id}/cancel")
    out.print(f"run {run_id}: cancelling")


@app.command()
def rerun(run_id: str) -> None:
    """Run a finished run's workflow snapshot again for the same event."""
    result = call(client().post, f"/api/v1/runs/{run_id}/rerun")
    out.print(" ".join(result["runs"]))


@app.command()
def replay(event_id: str) -> None:
    """Match a stored event against the current workflows again."""
    result = call(client().post, f"/api/v1/events/{event_id}/replay")
    out.print(" ".join(result["runs"]) or "no workflow matches")


@app.command()
def promote(
    source: Annotated[str, typer.Argument(metavar="SRC", help="registry/repo:tag or @digest")],
    destination: Annotated[str, typer.Argument(metavar="DST", help="registry/repo:tag")],
    all_platforms: Annotated[
        bool,
        typer.Option(
            "--all-platforms",
            help="Copy every platform of a multi-arch image (always done: a partial "
            "index would change the digest).",
        ),
    ] = True,
    signatures: Annotated[
        bool,
        typer.Option(
            "--signatures",
            help="Also carry the image's signatures, attestations and SBOMs: OCI referrers "
            "(or their sha256-<hex> fallback tag) and cosign's .sig/.att/.sbom tags.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Copy an image to another tag, repository or registry by digest, through the
    registry API (credentials from docker config.json and Tidegate's settings)."""
    del all_platforms
    cfg = settings()
    with Progress(
        TextColumn("copying"),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("copy", total=None)
        try:
            done = asyncio.run(
                handpromote.promote(
                    cfg,
                    source,
                    destination,
                    lambda n: progress.advance(task, n),
                    signatures=signatures,
                )
            )
        except TidegateError as exc:
            raise fail(exc.message) from exc
    result = done.result
    summary: dict[str, Any] = {
        "source": str(done.source),
        "destination": str(done.destination),
        "digest": result.digest,
        "mounted": result.mounted,
        "uploaded": result.uploaded,
        "skipped": result.skipped,
        "bytes": result.bytes,
    }
    if done.carried is not None:
        summary["signatures"] = {"carried": done.carried.count, **dataclasses.asdict(done.carried)}
    if as_json:
        print_json(summary)
    else:
        out.print(
            f"{done.destination} → {result.digest} ({result.uploaded} blobs copied, "
            f"{result.mounted} mounted, {result.skipped} already there)",
            highlight=False,
        )
        if done.carried is not None:
            out.print(done.carried.summary(), highlight=False)


@app.command()
def simulate(
    source: Annotated[str, typer.Argument(help="dockerhub or registry")],
    reference: Annotated[str, typer.Argument(metavar="REPO:TAG")],
    hook_url: Annotated[
        str | None, typer.Option(help="The webhook URL (default: the first-start hook).")
    ] = None,
    callback_url: Annotated[
        str, typer.Option(help="Docker Hub only: a callback_url to include.")
    ] = "",
    wait: Annotated[
        bool, typer.Option(help="Wait until each run finishes or waits for approval.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Send a realistic sample webhook to a running server."""
    if source not in CONTENT_TYPES:
        err.print(f"error: simulate knows {', '.join(CONTENT_TYPES)}")
        raise typer.Exit(2)
    cfg = settings()
    if hook_url is None:
        first = read_credentials(cfg)
        hook_url = first.hooks.get(source) if first else None
        if not hook_url:
            raise fail("no hook URL: pass --hook-url (from `tidegate hook create`)")
    if source == "dockerhub":
        body = dockerhub_payload(reference, callback_url=callback_url)
    else:
        body = registry_payload(reference)
    api = client()
    result = call(api.post_raw, hook_url, body, CONTENT_TYPES[source])
    if wait:
        for run_id in result["runs"]:
            _wait(api, run_id)
    if as_json:
        print_json(result)
    else:
        out.print(
            f"events: {' '.join(result['events']) or '-'}  runs: {' '.join(result['runs']) or '-'}"
        )


def _wait(api: ApiClient, run_id: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = call(api.get, f"/api/v1/runs/{run_id}")
        if run["status"] in ("succeeded", "failed", "cancelled", "timed_out", "waiting"):
            err.print(f"{run_id}: {run['status']}")
            return
        time.sleep(0.5)
    raise fail(f"{run_id} did not finish in {timeout:g}s")


def main() -> None:
    try:
        app()
    except TidegateError as exc:
        err.print(f"error: {exc.message}")
        sys.exit(1)
