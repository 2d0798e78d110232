"""Acting through the API: decisions, cancel, re-run, replay."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tidegate.cli.api_client import ApiClient
from tidegate.cli.base import app, call, client, fail, out


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


RefArgument = Annotated[str, typer.Argument(help="A run id or an approval id.")]
CommentOption = Annotated[str, typer.Option(help="Why.")]


def _decision_command(decision: str, summary: str) -> None:
    """`tidegate approve` and `tidegate reject`: the same command but for the word."""

    def decide(ref: RefArgument, comment: CommentOption = "") -> None:
        api = client()
        approval_id = _approval_id(api, ref)
        result = call(api.post, f"/api/v1/approvals/{approval_id}/{decision}", {"comment": comment})
        out.print(f"approval {approval_id}: {result['status']}")

    decide.__doc__ = summary
    app.command(decision)(decide)


_decision_command("approve", "Approve a waiting run.")
_decision_command("reject", "Reject a waiting run.")


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
