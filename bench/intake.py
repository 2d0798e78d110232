"""Webhook intake under load: Tidegate's hook endpoint against a bare endpoint.

The servers run in this process (uvicorn, each in a thread); the load comes from a
client in a process of its own (bench/loadclient.py: `--connections` keep-alive
connections, unique Docker Hub bodies), so the client does not share the servers' GIL.
The baseline is a bare FastAPI endpoint that reads the body and inserts it, one row
with a commit, into the same kind of database (SQLite in WAL with `synchronous=FULL`,
as Tidegate's, or PostgreSQL). Cases:

- `no_run`: bodies that match no workflow: authenticate, parse, de-duplicate, store.
- `loaded`: every webhook starts a run of one `true` step, while the engine runs them.
- `approval`: `--count` webhooks whose runs wait for an approval (a fresh server): the
  intake rate over all of them.

With `--split` (PostgreSQL), the webhooks go to an HTTP-only serve (`run_engine=false`)
in this process, and the runs are started and run by a `tidegate serve` in a process of
its own on the same database (docs/operations.md: an HTTP-only `serve` beside the
engine's).

Prints one JSON line per case (baseline, Tidegate, ratio, p50/p99).

    .venv/bin/python bench/intake.py [--requests 4000] [--connections 32] [--count 10000]
        [--postgres URL [--split]] [--cases no_run,loaded,approval]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI, Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import (
    ServeProcess,
    Server,
    free_port,
    make_settings,
    serve_env,
    start_server,
)

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "bench" / "loadclient.py"
RUN = "name: {name}\non_unresolved: tag\non: {{image: {{repositories: ['{repos}']}}}}\n"
ONE_STEP = "jobs: {a: {steps: [{run: 'true'}]}}\n"
APPROVAL = "jobs: {a: {approval: {approvers: [nobody], timeout: 72h}}}\n"


def bare_app(insert: Callable[[bytes], None]) -> FastAPI:
    app = FastAPI()
    lock = threading.Lock()  # one connection, as SQLite has one writer

    def locked(body: bytes) -> None:
        with lock:
            insert(body)

    @app.post("/hooks/{source}/{token}")
    async def hook(source: str, token: str, request: Request) -> Response:
        await asyncio.to_thread(locked, await request.body())
        return Response(b'{"events": []}', status_code=202, media_type="application/json")

    return app


def sqlite_insert(path: Path) -> Callable[[bytes], None]:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # as Tidegate's: a commit survives a power loss
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body BLOB)")

    def insert(body: bytes) -> None:
        db.execute("INSERT INTO events (body) VALUES (?)", (body,))

    return insert


def postgres_insert(url: str) -> Callable[[bytes], None]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE bare_events (id serial PRIMARY KEY, body bytea)"))
    conn = engine.connect()

    def insert(body: bytes) -> None:
        conn.execute(sa.text("INSERT INTO bare_events (body) VALUES (:b)"), {"b": body})
        conn.commit()

    return insert


def serve(app: FastAPI) -> tuple[str, uvicorn.Server]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/hooks/dockerhub/x", server


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A fresh database on `server_url`'s server, dropped afterwards."""
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


class Load:
    """Runs the client process; offsets keep every body unique across rounds."""

    def __init__(self, connections: int) -> None:
        self.connections = connections
        self.offset = 0

    def __call__(self, url: str, requests: int, repository: str) -> dict[str, Any]:
        # The servers run in this process and the client in its own: this process's CPU
        # time over a round is the server's cost, less noisy than a rate on a shared host.
        cpu = time.process_time()
        out = subprocess.run(
            [
                sys.executable,
                str(CLIENT),
                url,
                f"--requests={requests}",
                f"--connections={self.connections}",
                f"--repository={repository}",
                f"--offset={self.offset}",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        self.offset += requests
        result: dict[str, Any] = json.loads(out.stdout)
        result["server_cpu_ms_per_request"] = round(
            (time.process_time() - cpu) * 1000 / requests, 3
        )
        return result


def runs_by_status(tidegate: Server) -> dict[str, int]:
    with tidegate.client() as client:
        text = client.get("/metrics").text
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("tidegate_runs_active{"):
            status = line.split('status="', 1)[1].split('"', 1)[0]
            counts[status] = counts.get(status, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


def compare(
    load: Load, bare_url: str, tidegate_url: str, requests: int, repository: str
) -> dict[str, Any]:
    """Each twice, interleaved, the better round of each kept (the machine is shared)."""
    best: dict[str, dict[str, Any]] = {}
    for _ in range(2):
        for who, url in (("baseline", bare_url), ("tidegate", tidegate_url)):
            got = load(url, requests, repository)
            if who not in best or got["rps"] > best[who]["rps"]:
                best[who] = got
    return {
        "baseline": best["baseline"],
        "tidegate": best["tidegate"],
        "ratio": round(best["tidegate"]["rps"] / best["baseline"]["rps"], 3),
    }


def wait_idle(tidegate: Server, timeout: float = 300) -> float:
    """Seconds until no run is queued or running (at most `timeout`)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        active = runs_by_status(tidegate)
        if not active.get("queued") and not active.get("running"):
            break
        time.sleep(0.5)
    return round(time.monotonic() - began, 1)


def bench(args: argparse.Namespace, database_url: str, tmp: Path) -> None:
    database = "postgresql" if database_url else "sqlite"
    load = Load(args.connections)
    cases = set(args.cases.split(","))
    if cases & {"no_run", "loaded"}:
        workflow = RUN.format(name="one", repos="acme/*") + ONE_STEP
        engine = None
        if args.split:  # the engine in a `tidegate serve` of its own, on the same database
            env = serve_env(tmp / "engine", database_url)
            (tmp / "engine" / "workflows" / "one.yaml").write_text(workflow)
            engine = ServeProcess(env=env, cwd=tmp / "engine", url=env["TIDEGATE_URL"]).start()
        settings = make_settings(tmp / "a", database_url, run_engine=not args.split)
        (settings.workflows / "one.yaml").write_text(workflow)
        tidegate = start_server(settings, freeze_heap=True)  # as `tidegate serve`
        insert = postgres_insert(database_url) if database_url else sqlite_insert(tmp / "b.db")
        bare_url, bare = serve(bare_app(insert))
        url = tidegate.hooks["dockerhub"]
        load(bare_url, 300, "plain/web")  # warm-up
        load(url, 300, "plain/web")
        if "no_run" in cases:
            result = compare(load, bare_url, url, args.requests, "plain/web")
            print(json.dumps({"case": "no_run", "database": database, **result}), flush=True)
        if "loaded" in cases:
            result = compare(load, bare_url, url, args.requests, "acme/web")
            result["runs_done_after_s"] = wait_idle(tidegate)
            shown = {"case": "loaded", "database": database, "split": args.split, **result}
            print(json.dumps(shown), flush=True)
        bare.should_exit = True
        tidegate.stop()
        if engine is not None:
            engine.stop()
    if "approval" in cases:
        with postgres_database(args.postgres) if database_url else _no_database() as url2:
            settings = make_settings(tmp / "c", url2)
            (settings.workflows / "gate.yaml").write_text(
                RUN.format(name="gate", repos="acme/*") + APPROVAL
            )
            tidegate = start_server(settings, freeze_heap=True)  # as `tidegate serve`
            insert = postgres_insert(url2) if url2 else sqlite_insert(tmp / "d.db")
            bare_url, bare = serve(bare_app(insert))
            baseline = load(bare_url, args.count, "acme/web")
            bare.should_exit = True
            got = load(tidegate.hooks["dockerhub"], args.count, "acme/web")
            waiting_after = wait_idle(tidegate)
            active = runs_by_status(tidegate)
            tidegate.stop()
        print(
            json.dumps(
                {
                    "case": "approval",
                    "database": database,
                    "webhooks": args.count,
                    "baseline": baseline,
                    "intake": got,
                    "ratio": round(got["rps"] / baseline["rps"], 3),
                    "all_waiting_after_s": waiting_after,
                    "runs": active,
                }
            ),
            flush=True,
        )


@contextmanager
def _no_database() -> Iterator[str]:
    yield ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--count", type=int, default=10_000, help="webhooks, approval case")
    parser.add_argument("--cases", default="no_run,loaded,approval")
    parser.add_argument(
        "--postgres", default="", help="a PostgreSQL server URL: run on a fresh database"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="(PostgreSQL) webhooks to an HTTP-only serve in this process, the engine in "
        "a `tidegate serve` process of its own",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            with postgres_database(args.postgres) as url:
                bench(args, url, Path(tmp))
        else:
            bench(args, "", Path(tmp))


if __name__ == "__main__":
    main()
