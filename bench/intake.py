"""Webhook intake throughput: Tidegate's hook endpoint against a bare endpoint.

Both run in this process, each on uvicorn in a thread on loopback, and take the same
Docker Hub body from the same client (concurrent requests). The bare endpoint reads the
body and answers 202; Tidegate authenticates, parses, de-duplicates, stores the event
(SQLite, WAL) and matches it against a workflow that does not match (no runs are
started, so only intake is measured). Prints requests per second and the ratio.

    .venv/bin/python bench/intake.py [--requests 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2
import uvicorn
from fastapi import FastAPI, Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import free_port, make_settings, start_server

from tidegate.events.sources.dockerhub import dockerhub_payload


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/hooks/{source}/{token}")
    async def hook(source: str, token: str, request: Request) -> Response:
        await request.body()
        return Response(b'{"events": []}', status_code=202, media_type="application/json")

    return app


def serve_bare() -> tuple[str, uvicorn.Server]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(bare_app(), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/hooks/dockerhub/x", server


async def hammer(url: str, total: int, concurrency: int) -> float:
    bodies = [dockerhub_payload(f"acme/web:v{i}") for i in range(total)]  # distinct deliveries
    async with httpx2.AsyncClient(timeout=30) as client:
        queue = list(reversed(bodies))

        async def worker() -> None:
            while queue:
                response = await client.post(url, content=queue.pop())
                assert response.status_code == 202, response.text

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp))
        (Path(tmp) / "workflows" / "other.yaml").write_text(
            "name: other\non_unresolved: tag\non: {image: {repositories: ['other/*']}}\n"
            "jobs: {a: {steps: [{run: 'true'}]}}\n"
        )
        tidegate = start_server(settings)
        bare_url, bare = serve_bare()
        # Warm both up, then measure each twice, interleaved, and keep the better run.
        asyncio.run(hammer(bare_url, 100, args.concurrency))
        asyncio.run(hammer(tidegate.hooks["dockerhub"], 100, args.concurrency))
        bare_rate = tg_rate = 0.0
        for _ in range(2):
            bare_rate = max(
                bare_rate, asyncio.run(hammer(bare_url, args.requests, args.concurrency))
            )
            tg_rate = max(
                tg_rate,
                asyncio.run(hammer(tidegate.hooks["dockerhub"], args.requests, args.concurrency)),
            )
        bare.should_exit = True
        tidegate.stop()
    result = {
        "bare_rps": round(bare_rate),
        "tidegate_rps": round(tg_rate),
        "ratio": round(tg_rate / bare_rate, 3),
        "requests": args.requests,
        "concurrency": args.concurrency,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
