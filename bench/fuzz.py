"""Hostile-input fuzz: many requests against a real server; every answer must be 2xx or 4xx.

A server runs in this process (uvicorn in a thread, the engine on) on SQLite or, with
`--database-url`, PostgreSQL. Workers send a seeded random mix:

- webhooks: recorded bodies of every source with one to three members replaced by
  hostile values (quotes, `$()`, backticks, `;`, `&&`, `|`, newlines, NUL, lone
  surrogates, Unicode line separators, 10 KB strings, `../`, deep nesting, wrong types),
  under random content types, to live, wrong and unknown hook URLs;
- the API: every operation of the server's OpenAPI with hostile ids, queries and bodies,
  as an admin, an approver, a viewer, with a garbage token and with none;
- raw bytes: invalid UTF-8, 10,000-deep nesting, bodies past the limit.

One webhook in a hundred names a repository the fuzz workflow matches: its `run:` script
uses event fields bare, in double quotes, in single quotes and in a heredoc, and the
hostile values try to `touch` a marker file, which must never appear.

Prints one JSON line (requests, rate, answers by status, 5xx count, markers found) and
writes each 5xx, with its request, to `fuzz-failures.jsonl`. Exit code 1 on any 5xx or
marker.

    .venv/bin/python bench/fuzz.py [--requests 100000] [--concurrency 16] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import copy
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hostile import corpus
from tests.support import FINAL, Server, make_settings, start_server, write_workflow

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "webhooks"
RUN_REPOSITORY = "fuzz/run"


def hostile(marker: Path) -> list[Any]:
    """The corpus of the tests, and values of the wrong type or shape."""
    return [
        *corpus(marker),
        "\udfff",
        "<script>alert(1)</script>",
        "${{ secrets.TOKEN }}",
        "%s%n%x",
        "sha512:" + "f" * 128,
        "sha256:" + "0" * 63,
        "a" * 256,
        "",
        "http://127.0.0.1:1/",
        "javascript:alert(1)",
        -1,
        2**70,
        1e308,
        True,
        None,
        [],
        {},
        [[[[[[[[[[[["deep"]]]]]]]]]]]],
    ]


def recorded() -> dict[str, list[Any]]:
    bodies: dict[str, list[Any]] = collections.defaultdict(list)
    for path in sorted(FIXTURES.glob("*/*.json")):
        if not path.name.endswith(".expected.json"):
            bodies[path.parent.name].append(json.loads(path.read_text()))
    return bodies


def leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every member, so a mutation can land anywhere."""
    found = [path] if path else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += leaves(value, (*path, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += leaves(value, (*path, index))
    return found


def segment(value: Any, limit: int) -> str:
    """A hostile value as a URL path segment or query value (surrogates as their bytes)."""
    return quote(str(value)[:limit].encode("utf-8", "surrogatepass"), safe="")


def put(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


class Requests:
    """The seeded stream of requests: (kind, method, url, headers, body)."""

    def __init__(self, server: Server, rng: random.Random, marker: Path) -> None:
        self.server = server
        self.rng = rng
        self.values = hostile(marker)
        self.bodies = recorded()
        self.tokens = {
            "admin": server.admin_token,
            "approver": server.token("fuzz-approver", "approver"),
            "viewer": server.token("fuzz-viewer", "viewer"),
            "garbage": "tga_" + "x" * 40,
            "none": "",
        }
        schema = httpx2.get(f"{server.url}/openapi.json", timeout=30).json()
        self.operations = [
            (method.upper(), path)
            for path, item in schema["paths"].items()
            for method in item
            if not path.startswith(("/hooks", "/dockerhub-webhook", "/dockerregistry-webhook"))
        ]
        self.serial = 0

    def next(self) -> tuple[str, str, str, dict[str, str], bytes]:
        self.serial += 1
        roll = self.rng.random()
        if roll < 0.6:
            return self.webhook()
        if roll < 0.9:
            return self.api()
        return self.raw()

    def value(self) -> Any:
        return copy.deepcopy(self.rng.choice(self.values))  # lists and dicts: a fresh one

    def webhook(self) -> tuple[str, str, str, dict[str, str], bytes]:
        source = self.rng.choice(sorted(self.bodies))
        doc = json.loads(json.dumps(self.rng.choice(self.bodies[source])))
        for path in self.rng.sample(leaves(doc), k=min(3, self.rng.randint(1, 3))):
            with contextlib.suppress(KeyError, IndexError, TypeError):
                put(doc, path, self.value())  # fails when an earlier mutation replaced a parent
        self._unique(source, doc)
        url = self.server.hooks[source]
        roll = self.rng.random()
        if roll < 0.05:
            url = url.rsplit("/", 1)[0] + "/tgh_" + segment(self.value(), 50)
        elif roll < 0.08:
            url = url.replace(f"/hooks/{source}/", f"/hooks/{segment(self.value(), 30)}/")
        content_type = self.rng.choice(
            [
                "application/json",
                "application/vnd.docker.distribution.events.v1+json",
                "application/x-www-form-urlencoded",
                "text/plain",
                "",
            ]
        )
        text = json.dumps(doc, ensure_ascii=self.rng.random() < 0.5)
        if content_type == "application/x-www-form-urlencoded" and source == "dockerhub":
            text = "payload=" + segment(text, len(text))
        body = text.encode("utf-8", "surrogatepass")
        return "webhook", "POST", url, {"Content-Type": content_type}, body

    def _unique(self, source: str, doc: Any) -> None:
        """Most deliveries new, one in a hundred to the fuzz workflow's repository."""
        runs = self.rng.random() < 0.01
        if source == "dockerhub" and isinstance(doc.get("push_data"), dict):
            doc["push_data"]["pushed_at"] = self.serial
            if runs and isinstance(doc.get("repository"), dict):
                doc["repository"]["repo_name"] = RUN_REPOSITORY
        elif source == "registry" and isinstance(doc.get("events"), list):
            for index, event in enumerate(doc["events"]):
                if isinstance(event, dict):
                    event["id"] = f"fuzz-{self.serial}-{index}"
                    target = event.get("target")
                    if runs and isinstance(target, dict):
                        target["repository"] = RUN_REPOSITORY

    def api(self) -> tuple[str, str, str, dict[str, str], bytes]:
        method, path = self.rng.choice(self.operations)
        while "{" in path:
            start, end = path.index("{"), path.index("}")
            path = path[:start] + segment(self.value(), 200) + path[end + 1 :]
        query = self.rng.choice(
            ["", "?limit=-1", "?limit=100000", "?follow=true", "?follow=1&after=x",
             f"?repository={segment(self.value(), 100)}", "?status=%00"]
        )  # fmt: skip
        token = self.tokens[self.rng.choice(sorted(self.tokens))]
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = b""
        if method in ("POST", "PUT", "PATCH"):
            shape = self.rng.choice(["comment", "hook", "validate", "any"])
            payload: Any = {
                "comment": {"comment": self.value()},
                "hook": {"source": self.value(), "name": self.value()},
                "validate": {"text": str(self.value()), "name": str(self.value())[:50]},
                "any": self.value(),
            }[shape]
            body = json.dumps(payload).encode("utf-8", "surrogatepass")
        if "follow" in query:
            query = ""  # a followed log streams until the run ends: not what we time here
        return "api", method, f"{self.server.url}{path}{query}", headers, body

    def raw(self) -> tuple[str, str, str, dict[str, str], bytes]:
        source = self.rng.choice(sorted(self.bodies))
        body = self.rng.choice(
            [
                b"\xff\xfe\xfa",
                b"[" * 10_000 + b"]" * 10_000,
                b'{"events": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                b"x" * (2 * 1024 * 1024),
                b"",
                b"null",
                b'{"push_data": {}, "repository": {"repo_name": "\\ud800"}}',
                bytes(self.rng.getrandbits(8) for _ in range(200)),
            ]
        )
        return "raw", "POST", self.server.hooks[source], {"Content-Type": "application/json"}, body


async def drive(requests: Requests, total: int, concurrency: int) -> dict[str, Any]:
    statuses: collections.Counter[str] = collections.Counter()
    failures: list[dict[str, Any]] = []
    sent = 0

    async def worker(client: httpx2.AsyncClient) -> None:
        nonlocal sent
        while sent < total:
            sent += 1
            kind, method, url, headers, body = requests.next()
            try:
                response = await client.request(method, url, headers=headers, content=body)
            except httpx2.HTTPError as exc:
                statuses[f"{kind} {type(exc).__name__}"] += 1
                continue
            statuses[f"{kind} {response.status_code}"] += 1
            if response.status_code >= 500:
                failures.append(
                    {
                        "method": method,
                        "url": url,
                        "headers": headers,
                        "body": body[:4000].decode("utf-8", "backslashreplace"),
                        "status": response.status_code,
                        "answer": response.text[:1000],
                    }
                )

    start = time.perf_counter()
    async with httpx2.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"statuses": statuses, "failures": failures, "elapsed": elapsed}


FUZZ_WORKFLOW = """
name: fuzz
on_unresolved: tag
on:
  image:
    repositories: ["fuzz/run"]
jobs:
  fields:
    steps:
      - run: |
          printf 'bare=%s\\n' ${{ event.pusher }}${{ event.tag }}${{ event.media_type }}
          printf 'double=%s\\n' "${{ event.pusher }} ${{ event.delivery_id }}"
          printf 'single=%s\\n' '${{ event.pusher }} ${{ event.callback_url }}'
          cat <<EOF
          heredoc=${{ event.pusher }} ${{ event.repository }} ${{ event.image }}
          EOF
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--failures", type=Path, default=Path("fuzz-failures.jsonl"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        marker = root / "PWNED"
        settings = make_settings(root, args.database_url)
        write_workflow(settings, "fuzz", FUZZ_WORKFLOW)
        server = start_server(settings)
        try:
            requests = Requests(server, random.Random(args.seed), marker)
            outcome = asyncio.run(drive(requests, args.requests, args.concurrency))
            runs = settle(server)
        finally:
            server.stop()
        markers = sorted(str(p) for p in root.rglob("PWNED*"))
    statuses = outcome["statuses"]
    errors = sum(n for key, n in statuses.items() if key.split()[-1].startswith("5"))
    args.failures.write_text("".join(json.dumps(f) + "\n" for f in outcome["failures"]))
    result = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "seed": args.seed,
        "database": "postgresql" if args.database_url else "sqlite",
        "seconds": round(outcome["elapsed"], 1),
        "rps": round(args.requests / outcome["elapsed"]),
        "answers": dict(sorted(statuses.items())),
        "5xx": errors,
        "runs": runs,
        "markers": markers,
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result))
    sys.exit(1 if errors or markers else 0)


def settle(server: Server, timeout: float = 600) -> dict[str, int]:
    """Wait for the fuzz workflow's runs to end; count them by status."""
    deadline = time.monotonic() + timeout
    with server.client() as client:
        while True:
            runs = client.get("/api/v1/runs", params={"limit": 500}).json()
            pending = [r for r in runs if r["status"] not in FINAL]
            if not pending or time.monotonic() > deadline:
                return dict(collections.Counter(r["status"] for r in runs))
            time.sleep(1)


if __name__ == "__main__":
    main()
