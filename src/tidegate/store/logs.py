"""Step output, line by line."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
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
