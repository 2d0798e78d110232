"""Step output, line by line."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, func, insert, select
from sqlalchemy.orm import Session

from tidegate.store.models import LogLine


def append_lines(
    session: Session,
    run_id: str,
    job_id: str,
    step_index: int,
    lines: Sequence[tuple[datetime, str, str]],
) -> None:
    """Store (ts, stream, text) lines in one statement."""
    if not lines:
        return
    session.execute(
        insert(LogLine),
        [
            {
                "run_id": run_id,
                "job_id": job_id,
                "step_index": step_index,
                "ts": ts,
                "stream": stream,
                "text": text,
            }
            for ts, stream, text in lines
        ],
    )


def lines_after(
    session: Session, run_id: str, after_id: int = 0, limit: int = 5000
) -> list[LogLine]:
    return list(
        session.scalars(
            select(LogLine)
            .where(LogLine.run_id == run_id, LogLine.id > after_id)
            .order_by(LogLine.id)
            .limit(limit)
        )
    )


# Windows over a long log, for the run page: a page of lines from either end, and
# counts that place it (both use the (run_id, id) index).


LineRow = Row[int, str, int, str, str]  # id, job_id, step_index, stream, text


def page_of_lines(
    session: Session,
    run_id: str,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 1000,
) -> list[LineRow]:
    """`limit` lines, oldest first: the first after `after_id` when given, else the last
    before `before_id` (or the log's end). Rows, not ORM objects: a page only shows them."""
    query = select(
        LogLine.id, LogLine.job_id, LogLine.step_index, LogLine.stream, LogLine.text
    ).where(LogLine.run_id == run_id)
    if after_id is not None:
        query = query.where(LogLine.id > after_id).order_by(LogLine.id)
        return list(session.execute(query.limit(limit)).all())
    if before_id is not None:
        query = query.where(LogLine.id < before_id)
    rows = list(session.execute(query.order_by(LogLine.id.desc()).limit(limit)).all())
    rows.reverse()
    return rows


def count_lines(
    session: Session, run_id: str, *, before_id: int | None = None, after_id: int | None = None
) -> int:
    """How many lines the run's log holds (before `before_id`, after `after_id`)."""
    query = select(func.count()).select_from(LogLine).where(LogLine.run_id == run_id)
    if before_id is not None:
        query = query.where(LogLine.id < before_id)
    if after_id is not None:
        query = query.where(LogLine.id > after_id)
    return int(session.scalar(query) or 0)


def first_line_of_step(session: Session, run_id: str, job_id: str, step_index: int) -> int | None:
    """The id of a step's first line, or None when it wrote none."""
    return session.scalar(
        select(func.min(LogLine.id)).where(
            LogLine.run_id == run_id, LogLine.job_id == job_id, LogLine.step_index == step_index
        )
    )
