"""A container step against `podman run`: the same image and command, N times each.

Baseline: `podman run --rm --network=none IMAGE COMMAND` (Podman's own CLI).
Tidegate: the same image and command as a `container:` step, through the Docker-
compatible API of `podman system service`; timed from the step's start to its end as
the run records them (pull check, create, start, output, wait, removal).
Both in this process, against one local registry; the image is pulled once beforehand.
Prints both medians in milliseconds and the ratio (target: at most 1.25).

    .venv/bin/python bench/container_step.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.parts import ImageBuilder, Podman, Registry, push
from tests.support import make_settings, start_server, write_workflow

COMMAND = ["/bin/sh", "-c", "echo ready"]


def podman_run(image: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["podman", "run", "--rm", "--network=none", image, *COMMAND],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def step_seconds(run: dict[str, object]) -> float:
    (step,) = run["steps"]  # type: ignore[misc]
    started = step["started_at"]  # type: ignore[index]
    finished = step["finished_at"]  # type: ignore[index]
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        registry = Registry(port=5901, root=tmp / "registry").start()
        podman = Podman(tmp / "podman.sock").start()
        try:
            image_ref = ImageBuilder(tmp / "images").build("bench")
            digest = push(image_ref, f"{registry.host}/bench/app:v1")
            image = f"{registry.host}/bench/app@{digest}"
            subprocess.run(["podman", "pull", "-q", image], check=True, capture_output=True)
            settings = make_settings(tmp, docker_host=podman.url)
            server = start_server(settings)
            write_workflow(
                settings,
                "bench",
                "name: bench\non_unresolved: tag\non: {image: {repositories: ['bench/*']}}\n"
                f"jobs: {{a: {{steps: [{{container: {{image: '{image}', "
                f"command: {json.dumps(COMMAND)}}}}}]}}}}\n",
            )
            baseline, ours = [], []
            for i in range(args.runs + 2):
                took = podman_run(image)
                body = json.dumps(
                    {
                        "events": [
                            {
                                "id": f"bench-{i}",
                                "timestamp": "2026-11-28T00:00:00Z",
                                "action": "push",
                                "target": {
                                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                    "repository": "bench/app",
                                    "digest": digest,
                                    "tag": "v1",
                                },
                                "request": {"host": registry.host},
                            }
                        ]
                    }
                ).encode()
                response = httpx2.post(server.hooks["registry"], content=body, timeout=30)
                (run_id,) = response.json()["runs"]
                run = server.wait_run(run_id, timeout=120)
                assert run["status"] == "succeeded", run
                if i >= 2:  # warm-up
                    baseline.append(took)
                    ours.append(step_seconds(run))
            server.stop()
        finally:
            podman.stop()
            registry.stop()
    base_ms = statistics.median(baseline) * 1000
    ours_ms = statistics.median(ours) * 1000
    print(
        json.dumps(
            {
                "podman_run_ms": round(base_ms, 1),
                "tidegate_step_ms": round(ours_ms, 1),
                "ratio": round(ours_ms / base_ms, 3),
                "runs": args.runs,
            }
        )
    )


if __name__ == "__main__":
    main()
