"""Finished runs written straight into the store (Core inserts), for retention's tests
and bench/retention.py: each run with its event, one job, steps, log lines and a
delivery, and on request a promotion or an approval with a decision."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from tidegate.store.db import Database
from tidegate.store.models import (
    Approval,
    ApprovalDecision,
    Delivery,
    Event,
    Job,
    LogLine,
    Promotion,
    Run,
    Step,
)

CHUNK = 500  # runs per transaction


@dataclass
class Seeded:
    run_id: str
    event_id: str


def _id(prefix: str, at: datetime) -> str:
    # Time-ordered like store.ids.new_id, but from the run's own time.
    return f"{prefix}_{int(at.timestamp() * 1000):012x}{secrets.token_hex(5)}"


def seed_runs(
    db: Database,
    count: int,
    *,
    finished_at: Callable[[int], datetime],
    workflow: Callable[[int], str] = lambda _i: "build",
    status: Callable[[int], str] = lambda _i: "succeeded",
    steps: int = 3,
    lines: int = 10,
    promoted: Callable[[int], bool] = lambda _i: False,
    approved: Callable[[int], bool] = lambda _i: False,
) -> list[Seeded]:
    """`count` runs; run i finished at `finished_at(i)` (created a minute before), or is
    live when `status(i)` is queued, running or waiting."""
    seeded: list[Seeded] = []
    for start in range(0, count, CHUNK):
        rows: dict[type, list[dict[str, Any]]] = {
            table: []
            for table in (
                Event,
                Run,
                Job,
                Step,
                LogLine,
                Delivery,
                Promotion,
                Approval,
                ApprovalDecision,
            )
        }
        for i in range(start, min(count, start + CHUNK)):
            end = finished_at(i)
            state = status(i)
            live = state in ("queued", "running", "waiting")
            event_id, run_id = _id("ev", end), _id("run", end)
            seeded.append(Seeded(run_id, event_id))
            rows[Event].append(
                {
                    "id": event_id,
                    "source": "dockerhub",
                    "delivery_id": secrets.token_hex(16),
                    "registry": "docker.io",  # the column's name (Core inserts)
                    "repository": "acme/web",
                    "tag": f"v{i}",
                    "received_at": end,
                    "raw": {"push_data": {"tag": f"v{i}"}},
                    "run_count": 1,
                }
            )
            rows[Run].append(
                {
                    "id": run_id,
                    "event_id": event_id,
                    "workflow_name": workflow(i),
                    "workflow_text": "name: build\n",
                    "workflow_digest": "sha256:" + "0" * 64,
                    "status": state,
                    "image": "docker.io/acme/web:v1",
                    "created_at": end,
                    "started_at": end,
                    "finished_at": None if live else end,
                }
            )
            rows[Job].append({"run_id": run_id, "job_id": "build", "status": state, "needs": []})
            for index in range(steps):
                rows[Step].append(
                    {
                        "run_id": run_id,
                        "job_id": "build",
                        "index": index,
                        "name": f"s{index}",
                        "kind": "run",
                        "status": state,
                    }
                )
            for n in range(lines):
                rows[LogLine].append(
                    {
                        "run_id": run_id,
                        "job_id": "build",
                        "step_index": n % max(steps, 1),
                        "ts": end,
                        "stream": "stdout",
                        "text": f"line {n} of run {i}: compiling module {n * 7 % 13}",
                    }
                )
            rows[Delivery].append(
                {
                    "id": _id("dl", end),
                    "run_id": run_id,
                    "kind": "callback",
                    "target": "https://hub.docker.com/…",
                    "at": end,
                }
            )
            if promoted(i):
                rows[Promotion].append(
                    {
                        "id": _id("pr", end),
                        "run_id": run_id,
                        "source": "docker.io/acme/web@sha256:" + "1" * 64,
                        "destination": "docker.io/acme/web:production",
                        "digest": "sha256:" + "1" * 64,
                        "outcome": "promoted",
                        "approved_by": ["alice"],
                        "at": end,
                    }
                )
            if approved(i):
                approval_id = _id("ap", end)
                rows[Approval].append(
                    {
                        "id": approval_id,
                        "run_id": run_id,
                        "job_id": "build",
                        "status": "approved",
                        "created_at": end,
                        "decided_at": end,
                    }
                )
                rows[ApprovalDecision].append(
                    {"approval_id": approval_id, "user": "alice", "decision": "approve", "at": end}
                )
        with db.session() as session:
            for table, values in rows.items():
                if values:
                    session.execute(insert(table.__table__), values)  # type: ignore[attr-defined]
    return seeded
