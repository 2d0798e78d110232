"""The pages people wait for: the runs list over 10,000 runs, a run page with a 12,000-line
log; server time and time to first render in Chromium, each against a baseline.

Seeds a database with `--runs` finished and live runs (rows written directly, each with
its event), and one real run whose step prints `--lines` lines (some coloured), then
signs in and times each page from this process over loopback: p50 and p95 of
`--requests` sequential requests after 5 warm-ups. The baseline is the same HTML, as
Tidegate rendered it, served as a fixed answer by a bare Starlette app in this process
(with the same static assets): what the transport alone costs. Then Debian's Chromium
(Playwright) opens the runs list and the run page, Tidegate's and the baseline's, and
reads the first contentful paint. Targets: server p95 < 150 ms, first render < 1 s.

    .venv/bin/python bench/ui.py [--runs 10000] [--lines 12000] [--requests 50]
        [--database-url postgresql://postgres@127.0.0.1:5432/bench]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import uvicorn
from playwright.sync_api import sync_playwright
from sqlalchemy import insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import CHROMIUM_FLAGS, chromium
from tests.support import Server, free_port, make_settings, start_server, write_workflow

from tidegate.events.sources.dockerhub import dockerhub_payload
from tidegate.security.passwords import hash_password
from tidegate.store import users
from tidegate.store.db import Database
from tidegate.store.ids import new_id
from tidegate.store.models import Event, Run
from tidegate.web.ui import STATIC

PASSWORD = "bench password, long enough"
WORKFLOW = """
name: chatty
on_unresolved: tag
on: {image: {repositories: ["acme/*"]}}
jobs:
  build:
    steps:
      - name: compile
        run: |
          i=0
          while [ $i -lt LINES ]; do
            i=$((i+1))
            if [ $((i % 50)) -eq 0 ]; then printf '\\033[32mok\\033[0m line %d\\n' $i
            else echo "line $i of the build output"; fi
          done
  test:
    needs: [build]
    steps: [{run: "echo test"}]
  lint:
    steps: [{run: "echo lint"}]
  publish:
    needs: [test, lint]
    steps: [{run: "echo publish"}]
"""
STATUSES = ["succeeded"] * 80 + ["failed"] * 15 + ["running"] * 3 + ["waiting"] * 2


def seed(db: Database, count: int) -> None:
    """`count` runs with their events, written in batches."""
    now = datetime.now(UTC)
    for start in range(0, count, 1000):
        events, runs = [], []
        for i in range(start, min(start + 1000, count)):
            event_id = new_id("ev")
            repository = f"team{i % 40}/service{i % 7}"
            tag = f"v1.{i}.0"
            at = now - timedelta(minutes=count - i)
            status = STATUSES[i % len(STATUSES)]
            events.append(
                {
                    "id": event_id,
                    "source": "registry" if i % 3 else "dockerhub",
                    "delivery_id": f"bench-{i}",
                    "registry_host": "registry.example.com",
                    "repository": repository,
                    "tag": tag,
                    "digest": f"sha256:{i:064x}",
                    "raw": {"bench": i},
                    "received_at": at,
                    "run_count": 1,
                }
            )
            runs.append(
                {
                    "id": new_id("run"),
                    "event_id": event_id,
                    "workflow_name": f"workflow{i % 5}",
                    "workflow_text": "name: bench\n",
                    "workflow_digest": "sha256:bench",
                    "status": status,
                    "image": f"registry.example.com/{repository}@sha256:{i:064x}",
                    "digest": f"sha256:{i:064x}",
                    "created_at": at,
                    "started_at": at,
                    "finished_at": None if status in ("running", "waiting") else at,
                }
            )
        with db.session() as session:
            session.execute(insert(Event), events)
            session.execute(insert(Run), runs)


def baseline(pages: dict[str, bytes]) -> tuple[str, uvicorn.Server]:
    """The captured pages as fixed answers, and the package's static assets."""

    async def fixed(request: Request) -> HTMLResponse:
        return HTMLResponse(pages[request.url.path + _query(request)])

    routes = [Mount("/static", StaticFiles(directory=STATIC))]
    routes += [Route(path.split("?", 1)[0], fixed) for path in pages]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=routes), port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def _query(request: Request) -> str:
    return f"?{request.url.query}" if request.url.query else ""


# The paint entry may come after `load`: wait for it (buffered, so an early one counts).
FIRST_PAINT = """new Promise(done => new PerformanceObserver(list => {
  const fcp = list.getEntries().find(e => e.name === 'first-contentful-paint');
  if (fcp) done(fcp.startTime);
}).observe({type: 'paint', buffered: true}))"""


def first_paint(url: str, cookies: dict[str, str]) -> float:
    """Milliseconds from navigation to the first contentful paint, median of 5."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        context = browser.new_context()
        if cookies:
            context.add_cookies([{"name": k, "value": v, "url": url} for k, v in cookies.items()])
        page = context.new_page()
        paints = []
        for _ in range(6):
            page.goto(url, wait_until="load")
            paints.append(page.evaluate(FIRST_PAINT))
        browser.close()
    return round(statistics.median(paints[1:]), 1)


def timings(client: httpx2.Client, path: str, requests: int) -> dict[str, float]:
    for _ in range(5):
        assert client.get(path).status_code == 200, path
    took = []
    for _ in range(requests):
        start = time.perf_counter()
        answer = client.get(path)
        took.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, path
    took.sort()
    return {
        "p50_ms": round(statistics.median(took), 1),
        "p95_ms": round(took[int(len(took) * 0.95) - 1], 1),
        "kb": round(len(answer.content) / 1024, 1),
    }


def sign_in(server: Server) -> httpx2.Client:
    db = Database(server.settings.db_url)
    with db.session() as session:
        users.create_user(session, "bench", "approver", hash_password(PASSWORD))
    db.dispose()
    client = httpx2.Client(base_url=server.url, timeout=60)
    form = client.get("/login").text
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post(
        "/login", data={"name": "bench", "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 303
    return client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=12_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp), args.database_url)
        server = start_server(settings)
        write_workflow(settings, "chatty", WORKFLOW.replace("LINES", str(args.lines)))
        answer = server.post_hook("dockerhub", dockerhub_payload("acme/web:v1"))
        (run_id,) = answer.json()["runs"]
        server.wait_run(run_id, timeout=120)
        db = Database(settings.db_url)
        seed(db, args.runs)
        db.dispose()
        client = sign_in(server)
        page = client.get(f"/runs/{run_id}").text
        before = page.split("log_before=", 1)[1].split("#", 1)[0]
        newest = client.get("/runs").text.split('<tr id="run-', 2)[1].split('"', 1)[0]
        paths = {
            "runs list": "/runs",
            "runs list, next page": f"/runs?before={newest}",
            "runs list, filtered by repository": "/runs?repository=team3/service3",
            "runs list, filtered by status": "/runs?status=waiting",
            "runs table body (htmx poll)": "/runs/rows",
            f"run page ({args.lines}-line log)": f"/runs/{run_id}",
            "run live part (htmx poll)": f"/runs/{run_id}/live",
            "earlier log lines (htmx)": f"/runs/{run_id}/log/lines?before={before}",
        }
        results = {name: timings(client, path, args.requests) for name, path in paths.items()}
        pages = {path: client.get(path).content for path in paths.values()}
        base_url, bare = baseline(pages)
        with httpx2.Client(base_url=base_url, timeout=60) as plain:
            for name, path in paths.items():
                base = timings(plain, path, args.requests)
                results[name]["baseline_p95_ms"] = base["p95_ms"]
                results[name]["ratio_p95"] = round(results[name]["p95_ms"] / base["p95_ms"], 1)
        cookies = dict(client.cookies)
        render = {}
        for name, path in (("runs list", "/runs"), ("run page", f"/runs/{run_id}")):
            tidegate_ms = first_paint(f"{server.url}{path}", cookies)
            base_ms = first_paint(f"{base_url}{path}", {})
            render[name] = {
                "first_paint_ms": tidegate_ms,
                "baseline_first_paint_ms": base_ms,
                "ratio": round(tidegate_ms / base_ms, 2),
            }
        bare.should_exit = True
        client.close()
        server.stop()
    database = "postgresql" if args.database_url else "sqlite"
    report = {"database": database, "runs": args.runs, "pages": results, "render": render}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
