"""What a source costs per delivery: verify + parse of its recorded push, against the
baseline `json.loads` of the same bytes, in this process. The intake runs both on the
event loop for bodies up to 16 KiB (events/intake.py), so this is time the loop is held.

    .venv/bin/python bench/sources.py --rounds 5000

Prints one JSON line: per source, baseline and Tidegate microseconds per delivery
(median of 5 timings of `--rounds` each) and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tidegate.events.sources import SOURCES, Source
from tidegate.events.sources.auth import HookAuth

WEBHOOKS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "webhooks"
AUTH = HookAuth("tidegate-fixture-secret-0001")  # what the recorded headers were signed with


def per_call(fn: Callable[[], object], rounds: int) -> float:
    """Microseconds per call: the median of 5 timings of `rounds` calls."""
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        timings.append((time.perf_counter() - start) / rounds * 1e6)
    return statistics.median(timings)


def _delivery(source: Source, body: bytes, headers: dict[str, str]) -> object:
    source.verify(headers, body, AUTH)
    return source.parse(body, headers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5000)
    rounds = parser.parse_args().rounds
    figures = {}
    for name, source in SOURCES.items():
        body = (WEBHOOKS / name / "push.json").read_bytes()
        headers = json.loads((WEBHOOKS / name / "push.expected.json").read_text())["headers"]

        baseline = per_call(partial(json.loads, body), rounds)
        ours = per_call(partial(_delivery, source, body, headers), rounds)
        figures[name] = {
            "bytes": len(body),
            "baseline_us": round(baseline, 1),
            "tidegate_us": round(ours, 1),
            "ratio": round(ours / baseline, 1),
        }
    print(json.dumps({"benchmark": "sources", "rounds": rounds, "sources": figures}))


if __name__ == "__main__":
    main()
