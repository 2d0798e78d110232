"""Event → first step: from the webhook's POST to the first step's process running.

Baseline: the same shell step started directly with subprocess (what the step itself
costs). Tidegate: a Docker Hub webhook to the hook endpoint, intake, the run's durable
workflow, its job workflow, and the step's process writing a timestamp. Both in this
process, on SQLite. Prints medians in milliseconds and the ratio.

    .venv/bin/python bench/first_step.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import eventually, make_settings, start_server, write_workflow

from tidegate.events.sources.dockerhub import dockerhub_payload

STEP = "date +%s.%N > {out}"


def baseline(out: Path) -> float:
    start = time.time()
    subprocess.run(["bash", "-eo", "pipefail", "-c", STEP.format(out=out)], check=True)
    return float(out.read_text()) - start


def tidegate_once(hook: str, out: Path, i: int) -> float:
    out.unlink(missing_ok=True)
    start = time.time()
    response = httpx2.post(hook, content=dockerhub_payload(f"acme/web:v{i}"), timeout=30)
    assert response.status_code == 202
    eventually(lambda: out.exists() and out.read_text().strip(), timeout=30, interval=0.002)
    return float(out.read_text()) - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stamp"
        settings = make_settings(Path(tmp))
        server = start_server(settings)
        write_workflow(
            settings,
            "first",
            "name: first\non_unresolved: tag\non: {image: {repositories: ['acme/*']}}\n"
            f"jobs: {{a: {{steps: [{{run: '{STEP.format(out=out)}'}}]}}}}\n",
        )
        base = [baseline(out) for _ in range(args.runs)]
        ours = []
        for i in range(args.runs + 3):
            took = tidegate_once(server.hooks["dockerhub"], out, i)
            time.sleep(0.2)  # let the run finish; measure starts, not a backlog
            if i >= 3:  # warm-up
                ours.append(took)
        server.stop()
    base_ms = statistics.median(base) * 1000
    ours_ms = statistics.median(ours) * 1000
    print(
        json.dumps(
            {
                "baseline_ms": round(base_ms, 1),
                "tidegate_ms": round(ours_ms, 1),
                "ratio": round(ours_ms / base_ms, 2),
                "runs": args.runs,
            }
        )
    )


if __name__ == "__main__":
    main()
