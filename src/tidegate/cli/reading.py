"""Reading through the API: events, runs, one run, logs."""

from __future__ import annotations

import re
import sys
from typing import Annotated, Any

import typer

from tidegate.cli.api_client import ApiClient
from tidegate.cli.base import (
    JsonFlag,
    app,
    call,
    client,
    err,
    fail,
    out,
    print_json,
    shown_time,
    table,
    waiting_line,
)
from tidegate.errors import TidegateError
from tidegate.status import RUN_STATUSES as STATUSES


@app.command()
def events(as_json: JsonFlag = False, limit: int = 20) -> None:
    """Recent events."""
    rows = call(client().get, "/api/v1/events", limit=limit)
    if as_json:
        print_json(rows)
    else:
        table(rows, ["id", "source", "repository", "tag", "run_count", "received_at"])


def _run_status(value: str | None) -> str | None:
    if value is not None and value not in STATUSES:
        raise typer.BadParameter(f"{value!r} is not a run status; use one of {', '.join(STATUSES)}")
    return value


@app.command()
def runs(
    as_json: JsonFlag = False,
    status: Annotated[
        str | None,
        typer.Option(
            help=f"Only runs with this status: {', '.join(STATUSES)}.", callback=_run_status
        ),
    ] = None,
    limit: int = 20,
) -> None:
    """Recent runs; a queued or waiting run says what it waits for."""
    api = client()
    rows = call(api.get, "/api/v1/runs", limit=limit, status=status)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["waiting for"] = _waiting_text(api, row)
    table(rows, ["id", "workflow_name", "status", "image", "created_at", "waiting for"])


def _waiting_text(api: ApiClient, row: dict[str, Any]) -> str:
    if row["status"] not in ("queued", "waiting"):
        return ""
    waiting = call(api.get, f"/api/v1/runs/{row['id']}").get("waiting_for")
    return str(waiting["message"]) if waiting else ""


run_app = typer.Typer(no_args_is_help=True, help="One run.")
app.add_typer(run_app, name="run")


@run_app.command("show")
def run_show(run_id: str, as_json: JsonFlag = False) -> None:
    """A run: what it waits for, its steps in the order they ran, approvals, deliveries."""
    run = call(client().get, f"/api/v1/runs/{run_id}")
    if as_json:
        print_json(run)
        return
    out.print(f"[bold]{run['id']}[/bold] {run['workflow_name']} — {run['status']}")
    out.print(f"image {run['image']}", highlight=False)
    out.print(f"page  {run['url']}", highlight=False, markup=False)
    waiting = run.get("waiting_for")
    if waiting:
        line = waiting_line(run["id"], run["status"], waiting).removeprefix(f"{run['id']} is ")
        out.print(line, highlight=False, markup=False)
    if run["error"]:
        out.print(f"error: {run['error']}", highlight=False, markup=False)
    table(run["steps"], ["job_id", "index", "name", "status", "attempts", "exit_code"])
    for approval in run["approvals"]:
        out.print(_approval_line(approval), highlight=False, markup=False)
        if approval["status"] == "pending":
            out.print(f"  decide at {run['url']}#approval", highlight=False, markup=False)


DECIDED = {"approve": "approved", "reject": "rejected"}


def _approval_line(approval: dict[str, Any]) -> str:
    line = f"approval {approval['id']} ({approval['job_id']}): {approval['status']}"
    for decision in approval.get("decisions", []):
        said = f': "{decision["comment"]}"' if decision["comment"] else ""
        who = f"{DECIDED.get(decision['decision'], decision['decision'])} by {decision['user']}"
        line += f"\n  {who} at {shown_time(decision['at'])}{said}"
    return line


# A log line starts with its time, to the microsecond: the CLI shows times to the second.
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(?:Z|\+00:00) ", re.M)


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
        sys.stdout.write(_STAMP.sub(r"\1Z ", call(api.get, f"/api/v1/runs/{run_id}/logs")))
        return
    try:
        for event, data in api.stream_events(f"/api/v1/runs/{run_id}/logs?follow=1"):
            if event == "end":
                err.print(f"run {data['status']}")
                return
            where = f"{data['job']}#{data['step']} {data['stream']}"
            sys.stdout.write(f"{shown_time(data['ts'])} {where}: {data['text']}\n")
            sys.stdout.flush()
    except TidegateError as exc:
        raise fail(exc.message) from exc
