"""Many runs waiting for approval: what they cost the server, and what a restart costs.

A real server (`tidegate serve`, its own process) takes `--runs` Docker Hub webhooks
whose runs each wait for an approval (then run one `true` step). Measured:

- the time until every run waits (and the intake rate on the way);
- the server's RSS with them all waiting, against the same server idle before the
  webhooks (the baseline), and how many DBOS workflows are still pending;
- `GET /api/v1/runs` and `GET /api/v1/approvals` p95 (40 requests after 5 warm-ups);
- kill -9, then a restart until `/readyz` answers, against the first (empty) start;
- then one approval until its run has succeeded.

Prints one JSON line. SQLite by default; `--postgres URL` uses a fresh database on that
server (dropped afterwards).

    .venv/bin/python bench/waiting.py [--runs 10000] [--connections 16] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import ServeProcess, eventually, serve_env

from tidegate.config import Settings
from tidegate.events.sources.dockerhub import dockerhub_payload

WORKFLOW = """
name: gate
on_unresolved: tag
on: {image: {repositories: ["acme/*"]}}
jobs:
  approve:
    approval: {approvers: [admin], timeout: 72h}
  deploy:
    needs: [approve]
    steps:
      - run: "true"
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    name = f"tg_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(
        server_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Counts:
    """Reads the server's databases directly (cheaper than paging through the API)."""

    def __init__(self, settings: Settings) -> None:
        self.app = sa.create_engine(settings.db_url)
        self.dbos = sa.create_engine(settings.system_db_url)

    def runs(self, status: str) -> int:
        with self.app.connect() as conn:
            query = sa.text("SELECT count(*) FROM runs WHERE status = :s")
            return int(conn.execute(query, {"s": status}).scalar_one())

    def pending_workflows(self) -> int:
        with self.dbos.connect() as conn:
            table = (
                "workflow_status" if self.dbos.dialect.name == "sqlite" else "dbos.workflow_status"
            )
            query = sa.text(f"SELECT count(*) FROM {table} WHERE status = 'PENDING'")
            return int(conn.execute(query).scalar_one())

    def close(self) -> None:
        self.app.dispose()
        self.dbos.dispose()


def post_all(serve: ServeProcess, runs: int, connections: int) -> float:
    """POST `runs` unique webhooks from `connections` threads; seconds taken."""
    url = serve.hooks["dockerhub"]
    local = threading.local()

    def post(index: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx2.Client(timeout=120)
        body = dockerhub_payload(f"acme/web:v{index}")
        response = local.client.post(url, content=body)
        assert response.status_code == 202, response.text

    began = time.monotonic()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(post, range(runs)))
    return time.monotonic() - began


def latency(serve: ServeProcess, path: str, requests: int = 40) -> float:
    """p95 in ms of `GET path` (after 5 warm-ups)."""
    samples = []
    with serve.client() as c:
        for attempt in range(requests + 5):
            began = time.perf_counter()
            c.get(path).raise_for_status()
            if attempt >= 5:
                samples.append((time.perf_counter() - began) * 1000)
    return round(p95(samples), 1)


def timed_start(serve: ServeProcess) -> float:
    began = time.monotonic()
    serve.start()
    return time.monotonic() - began


def bench(args: argparse.Namespace, database_url: str, tmp: Path) -> dict[str, Any]:
    (tmp / "workflows").mkdir(parents=True)
    (tmp / "workflows" / "gate.yaml").write_text(WORKFLOW)
    env = serve_env(tmp, database_url)
    serve = ServeProcess(env=env, cwd=tmp, url=env["TIDEGATE_URL"])
    settings = Settings(data_dir=tmp / "data", database_url=database_url)
    counts = Counts(settings)
    try:
        first_start = timed_start(serve)
        time.sleep(2)  # settle after start-up
        idle_rss = rss_mb(serve.proc.pid)
        began = time.monotonic()
        posting = post_all(serve, args.runs, args.connections)
        eventually(lambda: counts.runs("waiting") >= args.runs, timeout=3600, interval=0.5)
        all_wait = time.monotonic() - began
        time.sleep(2)
        waiting_rss = rss_mb(serve.proc.pid)
        pending = counts.pending_workflows()
        runs_p95 = latency(serve, "/api/v1/runs")
        approvals_p95 = latency(serve, "/api/v1/approvals")

        serve.kill9()
        restart = timed_start(serve)
        with serve.client() as c:
            (approval,) = c.get("/api/v1/approvals", params={"limit": 1}).json()
        decided = time.monotonic()
        with serve.client() as c:
            c.post(f"/api/v1/approvals/{approval['id']}/approve", json={}).raise_for_status()
        done = eventually(
            lambda: (r := serve.run(approval["run_id"]))["status"] in ("succeeded", "failed") and r,
            timeout=600,
            interval=0.02,
        )
        approval_s = time.monotonic() - decided
        assert done["status"] == "succeeded", done
        return {
            "runs": args.runs,
            "database": "postgresql" if database_url else "sqlite",
            "intake_req_s": round(args.runs / posting, 1),
            "all_waiting_s": round(all_wait, 1),
            "rss_idle_mb": round(idle_rss, 1),
            "rss_waiting_mb": round(waiting_rss, 1),
            "rss_ratio": round(waiting_rss / idle_rss, 2),
            "dbos_pending_workflows": pending,
            "runs_p95_ms": runs_p95,
            "approvals_p95_ms": approvals_p95,
            "first_start_readyz_s": round(first_start, 2),
            "restart_readyz_s": round(restart, 2),
            "restart_ratio": round(restart / first_start, 2),
            "approval_to_succeeded_s": round(approval_s, 2),
        }
    finally:
        serve.stop()
        counts.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tg-waiting-") as tmp:
        if args.postgres:
            with postgres_database(args.postgres) as url:
                result = bench(args, url, Path(tmp))
        else:
            result = bench(args, "", Path(tmp))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
