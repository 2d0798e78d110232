"""Reading through the API: events, runs, one run, logs."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tidegate.apiclient import ApiError
from tidegate.cli.base import JsonFlag, app, call, client, err, fail, out, print_json, table

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
