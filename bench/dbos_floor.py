"""DBOS alone: what one checkpointed step costs, the floor under Tidegate's per-step figure.

A workflow of `--steps` async no-op steps, run `--runs` times on a fresh SQLite system
database (or `--database-url`, a PostgreSQL one: a fresh database is expected); prints
the median wall and CPU time per step, and an empty workflow's start to end, as one
JSON line. Nothing of Tidegate runs: compare with `first_step.py`'s per-step figure.

    .venv/bin/python bench/dbos_floor.py [--steps 20] [--runs 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time

from dbos import DBOS, DBOSConfig


async def noop(i: int) -> int:
    return i


@DBOS.workflow()
async def steps_workflow(n: int) -> int:
    for i in range(n):
        await DBOS.run_step_async({"retries_allowed": False}, noop, i)
    return n


async def measure(steps: int, runs: int) -> dict[str, float]:
    for _ in range(3):  # warm-up
        await (await DBOS.start_workflow_async(steps_workflow, steps)).get_result()
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        await (await DBOS.start_workflow_async(steps_workflow, steps)).get_result()
        walls.append((time.perf_counter() - wall) / steps * 1000)
        cpus.append((time.process_time() - cpu) / steps * 1000)
    empty = time.perf_counter()
    await (await DBOS.start_workflow_async(steps_workflow, 0)).get_result()
    return {
        "per_step_ms": round(statistics.median(walls), 2),
        "per_step_cpu_ms": round(statistics.median(cpus), 2),
        "empty_workflow_ms": round((time.perf_counter() - empty) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/dbos.db"
        config: DBOSConfig = {"name": "floor", "system_database_url": url, "log_level": "WARNING"}
        DBOS(config=config)
        DBOS.launch()
        try:
            result = asyncio.run(measure(args.steps, args.runs))
        finally:
            DBOS.destroy()
    database = "postgresql" if args.database_url else "sqlite"
    print(json.dumps({"figure": "dbos_floor", "database": database, "steps": args.steps, **result}))


if __name__ == "__main__":
    main()
