"""Acting through the API: decisions, cancel, re-run, replay, simulate."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import urlsplit

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
    settings,
    waiting_line,
)
from tidegate.cli.first_start import read_credentials
from tidegate.events.sources import SOURCES
from tidegate.store.runs import FINAL

# --- acting ---------------------------------------------------------------------


def _approval_id(api: ApiClient, ref: str) -> str:
    if not ref.startswith("run_"):
        return ref
    run = call(api.get, f"/api/v1/runs/{ref}")
    pending = [a for a in run["approvals"] if a["status"] == "pending"]
    if len(pending) == 1:
        return str(pending[0]["id"])
    if pending:
        named = ", ".join(f"{a['id']} (job {a['job_id']})" for a in pending)
        raise fail(f"run {ref} has {len(pending)} pending approvals: {named}; name one by its id")
    if run["approvals"]:
        raise fail(f"run {ref}: {_settled(run['approvals'][-1])}")
    raise fail(f"run {ref} has no approval to decide (it is {run['status']})")


def _settled(approval: dict[str, Any]) -> str:
    """`approval ap_… was already rejected by bob: "not today"`."""
    text = f"approval {approval['id']} was already {approval['status'].replace('_', ' ')}"
    wanted = {"rejected": "reject", "approved": "approve"}.get(approval["status"])
    decided = [d for d in approval.get("decisions", []) if d["decision"] == wanted]
    if decided:
        text += f" by {', '.join(d['user'] for d in decided)}"
        if wanted == "reject" and decided[-1]["comment"]:
            text += f': "{decided[-1]["comment"]}"'
    return text


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
    as_json: JsonFlag = False,
) -> None:
    """Send a realistic sample webhook to a running server."""
    if source not in SOURCES:
        err.print(f"error: simulate knows {', '.join(SOURCES)}")
        raise typer.Exit(2)
    cfg = settings()
    if hook_url is None:
        first = read_credentials(cfg)
        saved = first.hooks.get(source) if first else None
        if not saved:
            raise fail("no hook URL: pass --hook-url (from `tidegate hook create`)")
        # The saved URL names the address of the first start; the server may listen on
        # another now. `hooks/SOURCE/TOKEN` is what matters, sent to the server we talk to.
        hook_url = "/" + "/".join(urlsplit(saved).path.split("/")[-3:])
    body, headers = SOURCES[source].sample(reference, callback_url=callback_url)
    api = client()
    result = call(api.post_raw, hook_url, body, headers)
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
    """Until the run ends or only a person can move it on (its approval, or the approval
    of the run holding its concurrency key); say what holds it when that changes."""
    deadline = time.monotonic() + timeout
    said = ""
    while True:
        run = call(api.get, f"/api/v1/runs/{run_id}")
        status, waiting = run["status"], run.get("waiting_for")
        if status in FINAL:
            err.print(f"{run_id}: {status}", highlight=False)
            return
        news = waiting_line(run_id, status, waiting)
        if waiting and waiting["needs_decision"]:
            err.print(news, highlight=False, markup=False)
            return
        if waiting and waiting["reason"] != "start" and news != said:
            err.print(news, highlight=False, markup=False)  # it may be a while
            said = news
        if time.monotonic() >= deadline:
            raise fail(f"{run_id} did not finish in {timeout:g}s: {news}")
        time.sleep(0.5)
