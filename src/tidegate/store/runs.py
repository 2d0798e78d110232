"""Runs, their jobs and steps: the engine's record of what happened."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tidegate.status import LIVE as LIVE  # re-exported: the one list is tidegate.status
from tidegate.status import RUN_FINAL, RUN_STATUSES
from tidegate.store.ids import new_id
from tidegate.store.models import Event, Job, Run, Step, utcnow

FINAL = RUN_FINAL
STATUSES = RUN_STATUSES


# Read on every step's path: built once, so each read skips building the statement
# and its cache key (most of a small query's cost here).
_JOBS_OF = select(Job).where(Job.run_id == bindparam("run_id"))
_RUN = select(Run).where(Run.id == bindparam("run_id"))
_STEP_OUTCOME = select(Step.status, Step.attempts).where(
    Step.run_id == bindparam("run_id"),
    Step.job_id == bindparam("job_id"),
    Step.index == bindparam("index"),
)


def new_run(
    *,
    event_id: str,
    workflow_name: str,
    workflow_file: str,
    workflow_text: str,
    workflow_digest: str,
    concurrency_key: str | None,
    image: str,
    trigger: str = "webhook",
    rerun_of: str | None = None,
) -> Run:
    """A queued run, not yet added: the caller adds it in the event's transaction."""
    return Run(
        id=new_id("run"),
        event_id=event_id,
        workflow_name=workflow_name,
        workflow_file=workflow_file,
        workflow_text=workflow_text,
        workflow_digest=workflow_digest,
        concurrency_key=concurrency_key,
        image=image,
        trigger=trigger,
        rerun_of=rerun_of,
        status="queued",
        created_at=utcnow(),
    )


def get_run(session: Session, run_id: str) -> Run | None:
    found: Run | None = session.scalars(_RUN, {"run_id": run_id}).first()
    return found


def list_runs(
    session: Session,
    *,
    limit: int = 50,
    status: str | None = None,
    event_id: str | None = None,
    workflow: str | None = None,
    before: str | None = None,
    repository: str | None = None,
    tag: str | None = None,
    source: str | None = None,
) -> list[Run]:
    """Newest first; `repository`, `tag` and `source` are the starting event's."""
    query = select(Run).order_by(Run.id.desc()).limit(limit)
    if status:
        query = query.where(Run.status == status)
    if event_id:
        query = query.where(Run.event_id == event_id)
    if workflow:
        query = query.where(Run.workflow_name == workflow)
    if before:
        query = query.where(Run.id < before)
    if repository or tag or source:
        query = query.join(Event, Event.id == Run.event_id)
        if repository:
            query = query.where(Event.repository == repository)
        if tag:
            query = query.where(Event.tag == tag)
        if source:
            query = query.where(Event.source == source)
    return list(session.scalars(query))


def concurrency_holder(session: Session, run: Run) -> Run | None:
    """The run ahead of queued `run` on its concurrency key: the one holding the key
    (running or waiting), else the oldest queued before it; None without a key."""
    if not run.concurrency_key:
        return None
    same_key = select(Run).where(Run.concurrency_key == run.concurrency_key, Run.id != run.id)
    holder = session.scalar(
        same_key.where(Run.status.in_(["running", "waiting"])).order_by(Run.id).limit(1)
    )
    if holder is None:
        holder = session.scalar(
            same_key.where(Run.status == "queued", Run.id < run.id).order_by(Run.id).limit(1)
        )
    return holder


def runs_with_status(session: Session, statuses: Iterable[str]) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.status.in_(list(statuses)))))


def set_run_status(
    session: Session,
    run_id: str,
    status: str,
    *,
    error: str | None = None,
    engine_error: bool = False,
) -> bool:
    """Move a run to `status`; a final status is never left again. Whether it moved."""
    values: dict[str, object] = {"status": status}
    now = utcnow()
    if status == "running":
        values["started_at"] = func.coalesce(Run.started_at, now)
    if status in FINAL:
        values["finished_at"] = now
    if error is not None:
        values["error"] = error
    if engine_error:
        values["engine_error"] = True
    moved = session.execute(
        update(Run).where(Run.id == run_id, Run.status.not_in(list(FINAL))).values(**values),
        # No Run object of the session is brought up to date (the coalesce would cost a
        # SELECT first): callers read the run, if at all, after this.
        execution_options={"synchronize_session": False},
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def note_error(session: Session, run_id: str, error: str) -> None:
    """Why the run fails, when no step says it (a rejection); the first reason is kept."""
    run = session.get(Run, run_id)
    if run is not None:
        run.error = run.error or error


def mark_engine_error(session: Session, run_id: str, error: str) -> None:
    """Tidegate failed this run (not the user's step); the first error is kept."""
    run = session.get(Run, run_id)
    if run is not None:
        run.engine_error = True
        run.error = run.error or error


def set_run_digest(session: Session, run_id: str, digest: str, image: str) -> None:
    session.execute(update(Run).where(Run.id == run_id).values(digest=digest, image=image))


def set_digest_error(session: Session, run_id: str, error: str) -> None:
    session.execute(update(Run).where(Run.id == run_id).values(digest_error=error))


def request_cancel(session: Session, run_id: str) -> bool:
    """Mark a live run for cancellation; False when it has already finished."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.not_in(list(FINAL)))
        .values(cancel_requested=True)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def cancel_requested(session: Session, run_id: str) -> bool:
    return bool(session.scalar(select(Run.cancel_requested).where(Run.id == run_id)))


def ensure_jobs(
    session: Session,
    run_id: str,
    jobs: dict[str, list[str]],
    *,
    existing: Collection[str],
    running: Collection[str] = (),
) -> None:
    """Create the run's job rows once (a replayed workflow finds them there): those not
    in `existing`, the job ids the caller read with the run. Those in `running` start
    running."""
    now = utcnow()
    for job_id, needs in jobs.items():
        if job_id not in existing:
            started = job_id in running
            session.add(
                Job(
                    run_id=run_id,
                    job_id=job_id,
                    needs=needs,
                    status="running" if started else "queued",
                    started_at=now if started else None,
                )
            )


def set_job_status(session: Session, run_id: str, job_id: str, status: str) -> None:
    values: dict[str, object] = {"status": status}
    if status == "running":
        values["started_at"] = utcnow()
    elif status not in ("queued", "waiting"):
        values["finished_at"] = utcnow()
    session.execute(update(Job).where(Job.run_id == run_id, Job.job_id == job_id).values(**values))


def jobs_of(session: Session, run_id: str) -> list[Job]:
    return list(session.scalars(_JOBS_OF, {"run_id": run_id}))


def steps_of(session: Session, run_id: str) -> list[Step]:
    """The run's steps in the order they ran: job by job as the jobs started, each job's
    by index, and `finally` (which has no job row) last."""
    steps = list(session.scalars(select(Step).where(Step.run_id == run_id)))
    jobs = {job.job_id: job.started_at for job in jobs_of(session, run_id)}
    later = datetime.max.replace(tzinfo=UTC)

    def began(job_id: str) -> datetime:
        # A job row without a start (its `if` failed) goes by its steps'.
        times = [s.started_at for s in steps if s.job_id == job_id and s.started_at]
        return jobs[job_id] or min(times, default=later)

    starts = {job_id: began(job_id) for job_id in jobs}
    return sorted(
        steps,
        key=lambda s: (s.job_id not in jobs, starts.get(s.job_id, later), s.job_id, s.index),
    )


def step_outcome(session: Session, run_id: str, job_id: str, index: int) -> tuple[str, int] | None:
    """The step row's status and attempts (the job workflow's checkpoint), if it has one."""
    row = session.execute(
        _STEP_OUTCOME, {"run_id": run_id, "job_id": job_id, "index": index}
    ).first()
    return None if row is None else (row[0], row[1])


def upsert_step(
    session: Session,
    run_id: str,
    job_id: str,
    index: int,
    *,
    name: str,
    kind: str,
    status: str,
    attempts: int | None = None,
    exit_code: int | None = None,
    error: str | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
) -> None:
    """Create the step's row or move it on; fields left None keep what the row holds.

    One `INSERT … ON CONFLICT DO UPDATE` (SQLite and PostgreSQL both have it) rather than
    the ORM's read and then write: it is written twice per step attempt, on the path
    every step takes, so each shape of it is built once (`_upsert`).
    """
    given = {
        "attempts": attempts,
        "exit_code": exit_code,
        "error": error,
        "started_at": started_at,
        "finished_at": finished_at,
    }
    changes: dict[str, object] = {"status": status}
    changes.update({key: value for key, value in given.items() if value is not None})
    statement = _upsert(session.get_bind().dialect.name, tuple(changes))
    params = {"run_id": run_id, "job_id": job_id, "index": index, "name": name, "kind": kind}
    session.execute(statement, {**params, **changes})


_STEP_KEY = ("run_id", "job_id", "index")


@cache
def _upsert(dialect: str, changed: tuple[str, ...]) -> Any:
    """The step upsert that sets `changed`, with bound parameters: built and compiled
    once per shape instead of once per write."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Step)
    columns = (*_STEP_KEY, "name", "kind", *changed)
    insert = insert.values({column: bindparam(column) for column in columns})
    return insert.on_conflict_do_update(
        index_elements=list(_STEP_KEY),
        set_={column: insert.excluded[column] for column in changed},
    )
