"""Retention: 100,000 finished runs pruned to the default settings (30 days, at most
10,000 finished runs per workflow), then a steady state.

Round 1 seeds 100,000 finished runs straight through the store (3 workflows, spread
over the last 45 days, each with a job, 3 steps, 10 log lines and a delivery; 1 in
100 promoted) and prunes; rounds 2 and 3 each seed a quarter as many, 45 days after
the round before (every earlier run is past 30 days by then), and prune again. Each
round reports the database's size and `GET /api/v1/runs` p50/p95 (the first page, a
workflow's, a later page) before and after its prune, and the prune's own cost: its
time, its longest write transaction (SQLite's write-lock hold) and webhook intake
latency while it runs against the same webhooks on the idle server (the baseline).
One JSON line per round, then the summaries.

Flat means: the runs list answers as fast after each prune as on a small database, and
the database file stops growing: round 3 leaves it the size round 2 did (the space
pruned rows leave is reused: SQLite's free pages, PostgreSQL's after VACUUM, which
autovacuum runs on its own).

    .venv/bin/python bench/retention.py [--runs 100000] [--steady 25000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.seeding import seed_runs
from tests.support import Server, make_settings, start_server

from tidegate.engine.prune import prune_once
from tidegate.engine.runtime import Runtime
from tidegate.events.sources.dockerhub import dockerhub_payload
from tidegate.security.allowlist import AllowList
from tidegate.store.db import Database
from tidegate.store.models import utcnow

WORKFLOWS = ("api", "web", "worker")
SPREAD_DAYS = 45
LIST_REQUESTS = 100


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def size(db: Database) -> dict[str, int]:
    """Bytes on disk, and bytes in use (SQLite: pages not on the free list)."""
    with db.engine.connect() as conn:
        if db.url.startswith("sqlite"):
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
            free = conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0
            page = conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
            path = Path(db.url.removeprefix("sqlite:///"))
            return {"file": path.stat().st_size, "used": (pages - free) * page}
        conn.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM"))  # what autovacuum does: space made reusable
        total = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
        return {"file": int(total or 0), "used": int(total or 0)}


def list_p95(server: Server) -> dict[str, float]:
    """p95 of the runs list: first page, one workflow's, and a page from the middle."""
    figures = {}
    with server.client() as client:
        middle = client.get("/api/v1/runs", params={"limit": 500}).json()[-1]["id"]
        for name, params in (
            ("first_page", {}),
            ("workflow", {"workflow": "web"}),
            ("later_page", {"before": middle}),
        ):
            times = []
            for _ in range(LIST_REQUESTS):
                start = time.perf_counter()
                response = client.get("/api/v1/runs", params=params)
                times.append(time.perf_counter() - start)
                assert response.status_code == 200 and len(response.json()) == 50
            figures[name] = ms(percentile(times, 95))
            figures[f"{name}_p50"] = ms(percentile(times, 50))
    return figures


class Intake:
    """Webhooks posted one after another (no workflow matches: stored, answered)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.n = 0

    def post_while(self, busy: threading.Event) -> list[float]:
        times = []
        with httpx2.Client(timeout=30) as client:
            while busy.is_set() or len(times) < 20:
                self.n += 1
                body = dockerhub_payload(f"acme/probe:t{self.n}")
                start = time.perf_counter()
                response = client.post(
                    self.server.hooks["dockerhub"],
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                times.append(time.perf_counter() - start)
                assert response.status_code == 202, response.text
        return times


def summary(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": ms(percentile(times, 50)),
        "p99_ms": ms(percentile(times, 99)),
        "max_ms": ms(max(times)),
        "n": len(times),
    }


def round_(server: Server, runtime: Runtime, runs: int, now_offset: timedelta) -> dict[str, Any]:
    now = utcnow() + now_offset
    start = time.perf_counter()
    seed_runs(
        runtime.db,
        runs,
        finished_at=lambda i: now - timedelta(days=SPREAD_DAYS * (runs - i) / runs),
        workflow=lambda i: WORKFLOWS[i % len(WORKFLOWS)],
        status=lambda i: "failed" if i % 10 == 0 else "succeeded",
        promoted=lambda i: i % 100 == 0,
    )
    seeded = time.perf_counter() - start
    before = {"size": size(runtime.db), "list_p95_ms": list_p95(server)}
    intake = Intake(server)
    idle = threading.Event()
    idle.set()
    timer = threading.Timer(3.0, idle.clear)
    timer.start()
    baseline = intake.post_while(idle)  # the same webhooks, nothing else running
    busy = threading.Event()
    busy.set()
    during: list[float] = []
    probe = threading.Thread(target=lambda: during.extend(intake.post_while(busy)))
    probe.start()
    try:
        removed = prune_once(runtime, now=now)
    finally:
        busy.clear()
        probe.join()
    assert removed is not None
    after = {"size": size(runtime.db), "list_p95_ms": list_p95(server)}
    return {
        "seeded_runs": runs,
        "seed_s": round(seeded, 1),
        "before": before,
        "after": after,
        "prune": {
            "runs_removed": removed.runs,
            "runs_kept_for_audit": removed.kept_for_audit,
            "log_lines": removed.log_lines,
            "events": removed.events,
            "seconds": round(removed.seconds, 2),
            "writes": removed.writes,
            "longest_write_ms": ms(removed.longest_write),
        },
        "load_average": round(os.getloadavg()[0], 1),  # the machine is shared
        "intake_idle": summary(baseline),
        "intake_during_prune": summary(during),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--steady", type=int, default=0, help="runs in rounds 2, 3")
    args = parser.parse_args()
    database = "postgresql" if args.database_url else "sqlite"

    def shown(n: int, figures: dict[str, Any]) -> dict[str, Any]:
        line = {"bench": "retention", "round": n, "database": database, **figures}
        print(json.dumps(line), flush=True)
        return figures

    with tempfile.TemporaryDirectory() as tmp:
        # The schedule off: this script prunes when it measures.
        settings = make_settings(Path(tmp), args.database_url, prune_interval=0)
        server = start_server(settings)
        runtime = Runtime(
            settings=settings,
            db=Database(settings.db_url),
            executors={},
            callback_allow=AllowList([]),
            notify_allow=AllowList([]),
        )
        try:
            first = shown(1, round_(server, runtime, args.runs, timedelta(0)))
            # Then a steady state: a quarter as many each time, all earlier runs past
            # 30 days; the database stops growing once it holds what is kept plus
            # what comes in between two prunes.
            steady = args.steady or args.runs // 4
            second = shown(2, round_(server, runtime, steady, timedelta(days=SPREAD_DAYS)))
            third = shown(3, round_(server, runtime, steady, timedelta(days=2 * SPREAD_DAYS)))
        finally:
            runtime.db.dispose()
            server.stop()
    list_flat = {
        "bench": "retention_flat",
        "database": database,
        "baseline": "round 1 before its prune (100,000 runs): list p95; round 2: size",
        "list_p95_ms": {
            "100k_runs": first["before"]["list_p95_ms"],
            "pruned_1": first["after"]["list_p95_ms"],
            "pruned_2": second["after"]["list_p95_ms"],
            "pruned_3": third["after"]["list_p95_ms"],
        },
        "ratio_first_page_pruned_3_vs_100k": round(
            third["after"]["list_p95_ms"]["first_page"]
            / first["before"]["list_p95_ms"]["first_page"],
            2,
        ),
        "size_bytes": {
            "seeded_1": first["before"]["size"]["file"],
            "seeded_2": second["before"]["size"]["file"],
            "seeded_3": third["before"]["size"]["file"],
            "pruned_used_1": first["after"]["size"]["used"],
            "pruned_used_2": second["after"]["size"]["used"],
            "pruned_used_3": third["after"]["size"]["used"],
        },
        # Steady state: the file after round 3's seeding against round 2's.
        "ratio_size_3_vs_2": round(
            third["before"]["size"]["file"] / second["before"]["size"]["file"], 2
        ),
    }
    intake = {
        "bench": "retention_intake",
        "database": database,
        "baseline_idle_p99_ms": first["intake_idle"]["p99_ms"],
        "during_prune_p99_ms": first["intake_during_prune"]["p99_ms"],
        "ratio": round(first["intake_during_prune"]["p99_ms"] / first["intake_idle"]["p99_ms"], 2),
        "longest_write_ms": first["prune"]["longest_write_ms"],
    }
    print(json.dumps(list_flat))
    print(json.dumps(intake))


if __name__ == "__main__":
    main()
