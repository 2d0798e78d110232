"""Which workflows an event starts: match, then plan one queued run per match."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tidegate.engine.context import expression_context
from tidegate.errors import ExpressionError
from tidegate.image_event import ImageEvent
from tidegate.store.models import Run
from tidegate.store.runs import new_run
from tidegate.workflows import LoadedWorkflow, compile_template, matches


def concurrency_key(loaded: LoadedWorkflow, event: ImageEvent) -> str | None:
    template = loaded.workflow.concurrency
    if not template:
        return None
    ctx = expression_context(
        event=event, run={}, jobs={}, env=dict(loaded.workflow.env), secrets={}
    )
    try:
        key = compile_template(template).render(ctx)
    except ExpressionError:
        key = template  # still serialises: one key for the whole workflow
    # Keys are per workflow: two workflows never block each other by accident.
    return f"{loaded.workflow.name}:{key}"


def plan_runs(
    session: Session,
    event: ImageEvent,
    workflows: dict[str, LoadedWorkflow],
    *,
    trigger: str = "webhook",
) -> list[Run]:
    """Add a queued run for every workflow whose filter accepts the event."""
    runs = []
    for name in sorted(workflows):
        loaded = workflows[name]
        if not matches(loaded.workflow.on.image, event):
            continue
        run = new_run(
            event_id=event.id,
            workflow_name=loaded.workflow.name,
            workflow_file=str(loaded.path),
            workflow_text=loaded.source_text,
            workflow_digest=loaded.digest,
            concurrency_key=concurrency_key(loaded, event),
            image=event.image,
            trigger=trigger,
        )
        session.add(run)
        runs.append(run)
    session.flush()
    return runs
