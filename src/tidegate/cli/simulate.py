"""`tidegate simulate`: a realistic sample webhook sent to a running server."""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import urlsplit

import typer

from tidegate.cli import base
from tidegate.cli.api_client import ApiClient
from tidegate.cli.data_files import read_credentials
from tidegate.events.sources import SOURCES, HookAuth
from tidegate.status import RUN_FINAL


@base.app.command()
def simulate(
    source: Annotated[str, typer.Argument(help=f"One of: {', '.join(SOURCES)}")],
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
    secret: Annotated[
        str | None,
        typer.Option(help="The hook's secret, to sign with (default: the first-start hook's)."),
    ] = None,
    as_json: base.JsonFlag = False,
) -> None:
    """Send a realistic sample webhook to a running server."""
    if source not in SOURCES:
        base.err.print(f"error: simulate knows {', '.join(SOURCES)}")
        raise typer.Exit(2)
    cfg = base.settings()
    if hook_url is None:
        first = read_credentials(cfg)
        saved = first.hooks.get(source) if first else None
        if secret is None and first is not None:
            secret = first.hook_secrets.get(source)
        if not saved:
            raise base.fail("no hook URL: pass --hook-url (from `tidegate hook create`)")
        # The saved URL names the address of the first start; the server may listen on
        # another now. `hooks/SOURCE/TOKEN` is what matters, sent to the server we talk to.
        hook_url = "/" + "/".join(urlsplit(saved).path.split("/")[-3:])
    auth = HookAuth(secret or "")
    body, headers = SOURCES[source].sample(reference, callback_url=callback_url, auth=auth)
    api = base.client()
    result = base.call(api.post_raw, hook_url, body, headers)
    if wait:
        for run_id in result["runs"]:
            _wait(api, run_id)
    if as_json:
        base.print_json(result)
    else:
        base.out.print(
            f"events: {' '.join(result['events']) or '-'}  runs: {' '.join(result['runs']) or '-'}"
        )


def _wait(api: ApiClient, run_id: str, timeout: float = 600) -> None:
    """Until the run ends or only a person can move it on (its approval, or the approval
    of the run holding its concurrency key); say what holds it when that changes."""
    deadline = time.monotonic() + timeout
    said = ""
    while True:
        run = base.call(api.get, f"/api/v1/runs/{run_id}")
        status, waiting = run["status"], run.get("waiting_for")
        if status in RUN_FINAL:
            base.err.print(f"{run_id}: {status}", highlight=False)
            return
        news = base.waiting_line(run_id, status, waiting)
        if waiting and waiting["needs_decision"]:
            base.err.print(news, highlight=False, markup=False)
            return
        if waiting and waiting["reason"] != "start" and news != said:
            base.err.print(news, highlight=False, markup=False)  # it may be a while
            said = news
        if time.monotonic() >= deadline:
            raise base.fail(f"{run_id} did not finish in {timeout:g}s: {news}")
        time.sleep(0.5)
