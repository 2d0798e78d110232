"""Event → first step, and the engine's cost per step.

Two figures, each against a baseline measured in the same process, one JSON line each:

- `first_step`: from the webhook's POST to the first step's process running (it writes
  a timestamp), p50 and p99. Baseline: the same shell command started directly with
  subprocess. Webhooks one at a time, each run finished before the next.
- `per_step`: a run of 20 `true` steps in one job. Orchestration per step is the run's
  time (its record's start to finish) minus 20 bare spawns, over 20; `loop_ms` is the
  same from the first step's start to the last step's end (the step records), which
  leaves out the run's own begin, pin and finish. Baseline: `bash -eo pipefail -c true`
  started directly (what a step of `true` must cost). `server_cpu_per_step_ms`: the CPU
  the server's threads used over those runs, per step (on a machine busy with other
  work, wall times say more about the neighbours than about Tidegate).

Server, client and steps share this process (uvicorn in a thread), on SQLite unless
`--database-url` names a PostgreSQL database (a fresh schema is expected).

    .venv/bin/python bench/first_step.py [--runs 50] [--long-runs 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import Server, eventually, make_settings, start_server, write_workflow

from tidegate.events.sources.dockerhub import dockerhub_payload
from tidegate.store import runs as store_runs
from tidegate.store.db import Database

STEP = "date +%s.%N > {out}"
STEPS = 20
FINAL = {"succeeded", "failed", "cancelled", "timed_out", "skipped"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def server_cpu() -> float:
    """CPU seconds of this process's threads but the calling one (the client): the
    server's, which a busy machine's scheduling does not inflate the way it does wall
    time."""
    me, tick, total = threading.get_native_id(), os.sysconf("SC_CLK_TCK"), 0
    for task in Path("/proc/self/task").iterdir():
        if int(task.name) == me:
            continue
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def spawn_stamp(out: Path) -> float:
    """The baseline of the first figure: start the step's shell, until it wrote."""
    start = time.time()
    subprocess.run(["bash", "-eo", "pipefail", "-c", STEP.format(out=out)], check=True)
    return float(out.read_text()) - start


def spawn_true() -> float:
    start = time.perf_counter()
    subprocess.run(["bash", "-eo", "pipefail", "-c", "true"], check=True)
    return time.perf_counter() - start


# One client for every webhook, as a registry's notifier keeps its connections: a new
# client per POST would time the sender building its TLS context, not Tidegate.
SENDER = httpx2.Client(timeout=30)


def post(server: Server, image: str) -> str:
    response = SENDER.post(server.hooks["dockerhub"], content=dockerhub_payload(image))
    assert response.status_code == 202, response.text
    runs = response.json()["runs"]
    assert len(runs) == 1, runs
    return str(runs[0])


def finished(db: Database, run_id: str) -> tuple[datetime, datetime, list[Any]]:
    """The run's start and end, and its steps, once it has ended."""

    def look() -> tuple[datetime, datetime, list[Any]] | None:
        with db.session() as session:
            run = store_runs.get_run(session, run_id)
            if run is None or run.status not in FINAL:
                return None
            assert run.status == "succeeded", (run.status, run.error)
            assert run.started_at and run.finished_at
            return run.started_at, run.finished_at, store_runs.steps_of(session, run_id)

    # Not too often: this process is the server's too, and the figures come from the
    # records, not from when we look.
    return eventually(look, timeout=60, interval=0.2)


def first_step(server: Server, db: Database, out: Path, i: int) -> float:
    out.unlink(missing_ok=True)
    start = time.time()
    run_id = post(server, f"acme/web:v{i}")
    eventually(lambda: out.exists() and out.read_text().strip(), timeout=30, interval=0.001)
    took = float(out.read_text()) - start
    finished(db, run_id)  # measure starts, not a backlog
    return took


def long_run(server: Server, db: Database, i: int) -> tuple[float, float]:
    run_id = post(server, f"acme/long:v{i}")
    started, ended, steps = finished(db, run_id)
    assert len(steps) == STEPS and all(s.status == "succeeded" for s in steps)
    loop = max(s.finished_at for s in steps) - min(s.started_at for s in steps)
    return (ended - started).total_seconds(), loop.total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--long-runs", type=int, default=10)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    database = "postgresql" if args.database_url else "sqlite"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stamp"
        settings = make_settings(Path(tmp), args.database_url)
        server = start_server(settings, freeze_heap=True)  # as `tidegate serve`
        db = Database(settings.db_url)
        write_workflow(
            settings,
            "first",
            "name: first\non_unresolved: tag\non: {image: {repositories: ['acme/web']}}\n"
            f"jobs: {{a: {{steps: [{{run: '{STEP.format(out=out)}'}}]}}}}\n",
        )
        steps = ", ".join(["{run: 'true'}"] * STEPS)
        write_workflow(
            settings,
            "long",
            "name: long\non_unresolved: tag\non: {image: {repositories: ['acme/long']}}\n"
            f"jobs: {{a: {{steps: [{steps}]}}}}\n",
        )
        spawns = [spawn_stamp(out) for _ in range(args.runs)]
        for i in range(3):  # warm-up: imports, caches, connections
            first_step(server, db, out, 1000 + i)
            long_run(server, db, 1000 + i)
        firsts = [first_step(server, db, out, i) for i in range(args.runs)]
        trues = [spawn_true() for _ in range(args.runs)]
        cpu = server_cpu()
        longs = [long_run(server, db, i) for i in range(args.long_runs)]
        cpu = (server_cpu() - cpu) / (args.long_runs * STEPS)
        db.dispose()
        server.stop()

    base50, base99 = percentile(spawns, 50), percentile(spawns, 99)
    ours50, ours99 = percentile(firsts, 50), percentile(firsts, 99)
    print(
        json.dumps(
            {
                "figure": "first_step",
                "database": database,
                "baseline_p50_ms": ms(base50),
                "baseline_p99_ms": ms(base99),
                "tidegate_p50_ms": ms(ours50),
                "tidegate_p99_ms": ms(ours99),
                "ratio_p50": round(ours50 / base50, 1),
                "runs": args.runs,
            }
        )
    )
    spawn = statistics.median(trues)
    run_total = statistics.median(total for total, _ in longs)
    loop_total = statistics.median(loop for _, loop in longs)
    per_step = (run_total - STEPS * spawn) / STEPS
    print(
        json.dumps(
            {
                "figure": "per_step",
                "database": database,
                "baseline_spawn_ms": ms(spawn),
                "run_ms": ms(run_total),
                "tidegate_per_step_ms": ms(per_step),
                "loop_per_step_ms": ms((loop_total - STEPS * spawn) / STEPS),
                "server_cpu_per_step_ms": ms(cpu),
                "ratio": round(per_step / spawn, 1),
                "steps": STEPS,
                "runs": args.long_runs,
            }
        )
    )


if __name__ == "__main__":
    main()
