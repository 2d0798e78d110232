"""Promotion against `skopeo copy --all`: retag, cross-repository, cross-registry.

The same image (busybox plus several MB of random data) is promoted N times each way
by skopeo (Debian's) and by Tidegate's registry client, in this process, against local
Debian registries; every destination repository is fresh, and the tools take turns
going first. Prints the medians in milliseconds and the ratios, and checks every digest
equals the source's.
Targets: at most 0.3 of skopeo for retag and cross-repository, 1.0 for cross-registry.

Both tools remember where they put blobs (skopeo in its blob-info cache, Tidegate in
its sightings), so from the second copy on a cross-registry copy mounts the layers
from an earlier destination repository, as it would in use; Tidegate also keeps the
source manifest it read (by digest) and only checks the source still has it.
`cross_registry_cold` copies into a registry started afresh for each copy, with
Tidegate's memory cleared, so every byte moves.

`bare` is the floor under any client here: the requests a cross-repository copy cannot
do without (HEAD the tag and the source, a mount per blob, then the manifest PUT),
sent with bare httpcore2 (on the same asyncio network layer) and nothing checked.

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
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpcore2
from tests.parts import ImageBuilder, Registry, digest_of, manifest_of, push

from tidegate.registry import CredentialStore, ImageRef, RegistryClient
from tidegate.registry.manifest_memory import MANIFESTS
from tidegate.registry.manifests import references
from tidegate.registry.network import AsyncioBackend
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


async def bare(source: str, destination: str, manifest: bytes, media_type: str) -> float:
    """The fewest requests a cross-repository copy makes, with no client around them."""
    src, dst = ImageRef.parse(source), ImageRef.parse(destination)
    base = f"http://{src.registry}/v2"
    blobs = references(manifest, media_type).blobs
    start = time.perf_counter()
    async with httpcore2.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
        first = [
            pool.request("HEAD", f"{base}/{dst.repository}/manifests/{dst.tag}"),
            pool.request(
                "HEAD",
                f"{base}/{src.repository}/manifests/{src.digest}",
                headers={"Accept": media_type},
            ),
        ]
        first += [
            pool.request(
                "POST",
                f"{base}/{dst.repository}/blobs/uploads/?mount={b.digest}&from={src.repository}",
            )
            for b in blobs
        ]
        answers = await asyncio.gather(*first)
        assert [a.status for a in answers[2:]] == [201] * len(blobs)
        put = await pool.request(
            "PUT",
            f"{base}/{dst.repository}/manifests/{dst.tag}",
            headers={"Content-Type": media_type},
            content=manifest,
        )
        assert put.status == 201
    return time.perf_counter() - start


def compare(
    source: str,
    digest: str,
    target: Callable[[str, int], str],
    runs: int,
    floor: tuple[bytes, str] | None,
) -> dict[str, list[float]]:
    """Each tool's times for `runs` copies of `source` to `target(tool, i)`; with `floor`
    (the manifest and its media type) the bare requests too."""
    tools: dict[str, Callable[[str], float]] = {
        "skopeo": lambda to: skopeo(source, to),
        "tidegate": lambda to: _tidegate_copy(source, to, digest),
    }
    if floor is not None:
        tools["bare"] = lambda to: asyncio.run(bare(source, to, *floor))
    times: dict[str, list[float]] = {who: [] for who in tools}
    for i in range(runs):
        # Each tool takes each place in turn: whoever follows skopeo finds the registry
        # still busy with it, and no tool should always be the one.
        order = list(tools)
        for who in order[i % len(order) :] + order[: i % len(order)]:
            times[who].append(tools[who](target(who, i)))
            assert digest_of(target(who, i)) == digest
    return times


def _tidegate_copy(source: str, destination: str, digest: str) -> float:
    took, copied = asyncio.run(tidegate(source, destination))
    assert copied == digest
    return took


def cold(source: str, digest: str, runs: int, tmp: Path) -> dict[str, float]:
    """Copies into a registry started afresh each time: nothing to mount, every byte moves."""
    theirs: list[float] = []
    ours: list[float] = []
    for i in range(runs):
        pairs = [("skopeo", theirs), ("tidegate", ours)]
        for who, times in pairs if i % 2 == 0 else pairs[::-1]:  # each goes first in turn
            fresh = Registry(port=5923, root=tmp / f"cold-{who}-{i}").start()
            try:
                SIGHTINGS.clear()
                MANIFESTS.clear()
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
    return summary(theirs, ours)


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
            manifest, media_type = manifest_of(one.host, "bench/app", digest)
            for name, target in cases.items():
                floor = (manifest, media_type) if name == "cross_repository" else None
                times = compare(source, digest, target, args.runs, floor)
                results[name] = summary(times["skopeo"], times["tidegate"])
                if times.get("bare"):
                    least, base = (statistics.median(times[w]) for w in ("bare", "skopeo"))
                    results[name]["bare_ms"] = round(least * 1000, 1)
                    results[name]["bare_ratio"] = round(least / base, 3)
            results["cross_registry_cold"] = cold(source, digest, args.runs, tmp)
        finally:
            one.stop()
            two.stop()
    print(json.dumps({"runs": args.runs, "megabytes": args.megabytes, **results}))


if __name__ == "__main__":
    main()
