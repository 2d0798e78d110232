"""Acting through the API: decisions, cancel, re-run, replay, simulate."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from tidegate.apiclient import ApiClient
from tidegate.bootstrap import read_credentials
from tidegate.cli.base import JsonFlag, app, call, client, err, fail, out, print_json, settings
from tidegate.simulate import CONTENT_TYPES, dockerhub_payload, registry_payload

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
