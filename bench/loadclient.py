"""A load client in a process of its own (so that it does not share the server's GIL):
`--connections` keep-alive HTTP/1.1 connections POST unique Docker Hub bodies as fast as
they are answered. Raw asyncio streams, not an HTTP library: ~20 µs of client CPU a
request, so the 2 cores go to the server. Prints one JSON line: req/s, p50, p99 (ms)
and the answers' status codes.

    .venv/bin/python bench/loadclient.py URL --requests 4000 --connections 32 \
        --repository acme/web --offset 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tidegate.events.sources.dockerhub import dockerhub_payload


def requests(url: str, repository: str, offset: int, count: int) -> list[bytes]:
    """The whole requests, bytes ready to write: distinct deliveries (tags differ)."""
    parts = urlsplit(url)
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    out = []
    for i in range(offset, offset + count):
        body = dockerhub_payload(f"{repository}:v{i}")
        out.append(
            (
                head + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    return out


async def connection(
    host: str, port: int, queue: list[bytes], latencies: list[float], codes: Counter[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while queue:
            request = queue.pop()
            began = time.perf_counter()
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            codes[int(status.split()[1])] += 1
    finally:
        writer.close()


async def load(url: str, bodies: list[bytes], connections: int) -> dict[str, object]:
    parts = urlsplit(url)
    queue = list(reversed(bodies))
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    began = time.perf_counter()
    await asyncio.gather(
        *(
            connection(parts.hostname or "", parts.port or 80, queue, latencies, codes)
            for _ in range(connections)
        )
    )
    took = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)

    return {
        "rps": round(len(latencies) / took, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "seconds": round(took, 2),
        "codes": dict(codes),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repository", default="acme/web")
    parser.add_argument("--offset", type=int, default=0)
    args = parser.parse_args()
    bodies = requests(args.url, args.repository, args.offset, args.requests)
    print(json.dumps(asyncio.run(load(args.url, bodies, args.connections))))


if __name__ == "__main__":
    main()
