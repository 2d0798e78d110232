"""Promotion against `skopeo copy --all`: retag, cross-repository, cross-registry.

The same image (busybox plus several MB of random data) is promoted N times each way
by skopeo (Debian's) and by Tidegate's registry client, in this process, against local
Debian registries; every destination repository is fresh. Prints the medians in
milliseconds and the ratios, and checks every digest equals the source's.
Targets: at most 0.3 of skopeo for retag and cross-repository, 1.0 for cross-registry.

Both tools remember where they put blobs (skopeo in its blob-info cache, Tidegate in
its sightings), so from the second copy on a cross-registry copy mounts the layers
from an earlier destination repository, as it would in use. `cross_registry_cold`
copies into a registry started afresh for each copy, so every byte moves.

    .venv/bin/python bench/promote.py [--runs 7] [--megabytes 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.parts import ImageBuilder, Registry, digest_of, push

from tidegate.registry import CredentialStore, ImageRef, RegistryClient
from tidegate.registry.sightings import SIGHTINGS


def skopeo(source: str, destination: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--all",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            f"docker://{source}",
            f"docker://{destination}",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


async def tidegate(source: str, destination: str) -> tuple[float, str]:
    start = time.perf_counter()
    async with RegistryClient(CredentialStore(None)) as client:
        result = await client.copy(ImageRef.parse(source), ImageRef.parse(destination))
    return time.perf_counter() - start, result.digest


def summary(theirs: list[float], ours: list[float]) -> dict[str, float]:
    base, mine = statistics.median(theirs) * 1000, statistics.median(ours) * 1000
    return {
        "skopeo_ms": round(base, 1),
        "tidegate_ms": round(mine, 1),
        "ratio": round(mine / base, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--megabytes", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        one = Registry(port=5921, root=tmp / "one").start()
        two = Registry(port=5922, root=tmp / "two").start()
        try:
            payload = os.urandom(args.megabytes * 1024 * 1024 // 2).hex()
            image = ImageBuilder(tmp / "images").build("big", files={"/data/blob": payload})
            digest = push(image, f"{one.host}/bench/app:v1")
            source = f"{one.host}/bench/app@{digest}"
            cases = {
                "retag": lambda who, i: f"{one.host}/bench/app:{who}-{i}",
                "cross_repository": lambda who, i: f"{one.host}/bench/{who}-{i}:v1",
                "cross_registry": lambda who, i: f"{two.host}/bench/{who}-{i}:v1",
            }
            results: dict[str, dict[str, float]] = {}
            for name, target in cases.items():
                theirs, ours = [], []
                for i in range(args.runs):
                    theirs.append(skopeo(source, target("skopeo", i)))
                    took, copied = asyncio.run(tidegate(source, target("tidegate", i)))
                    ours.append(took)
                    assert copied == digest
                    assert digest_of(target("skopeo", i)) == digest
                    assert digest_of(target("tidegate", i)) == digest
                results[name] = summary(theirs, ours)
            theirs, ours = [], []
            for i in range(args.runs):
                for who, times in (("skopeo", theirs), ("tidegate", ours)):
                    fresh = Registry(port=5923, root=tmp / f"cold-{who}-{i}").start()
                    try:
                        SIGHTINGS.clear()
                        to = f"{fresh.host}/bench/app:v1"
                        if who == "skopeo":
                            times.append(skopeo(source, to))
                        else:
                            took, copied = asyncio.run(tidegate(source, to))
                            times.append(took)
                            assert copied == digest
                        assert digest_of(to) == digest
                    finally:
                        fresh.stop()
            results["cross_registry_cold"] = summary(theirs, ours)
        finally:
            one.stop()
            two.stop()
    print(json.dumps({"runs": args.runs, "megabytes": args.megabytes, **results}))


if __name__ == "__main__":
    main()
