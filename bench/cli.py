"""The `tidegate` command's whole process, start to exit, against baselines.

- `version`: `tidegate --version` against `python -c pass` (the interpreter alone);
  also `tidegate --help`, which loads every command.
- `runs`: `tidegate runs` (20 finished runs listed) against a live `tidegate serve`,
  against `python -c pass`; `request_ms` is the same GET made in this process, the part
  of the work that is the server's.
- `promote_retag`: `tidegate promote HOST/bench/app:v1 HOST/bench/app:NEW` against
  `skopeo copy --all` of the same tag to a new tag, and against `python -c pass`, on a
  local docker-registry. `startup_ms` is a `tidegate promote` that stops at its invalid
  source name, having done all a promotion does before it reaches the registry
  (interpreter, imports, arguments, settings, the event loop); `beyond_startup_ms` is
  the rest, the work, to compare with skopeo's whole process: the median over rounds
  of a round's promotion less the same round's start-up (`paired_difference_ms`).

Each figure comes with the CPU time the process used (`_cpu_ms`, user + system).

Targets (issue 11): `--version` < 150 ms; promote ≤ 300 ms whole process and the work
beyond start-up ≤ 0.3 of skopeo. Each figure is the median of `--runs` after 2 warm-ups,
the tools taking turns going first. One JSON line per case.

    .venv/bin/python bench/cli.py [--runs 15] [--megabytes 8] [--cases version,runs,promote_retag]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx2
from tests.parts import ImageBuilder, Registry, digest_of, push
from tests.support import ServeProcess, serve_env

# The console script people run; `python -m tidegate` where there is none.
_SCRIPT = Path(sys.executable).parent / "tidegate"
TIDEGATE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "tidegate"]
PASS = [sys.executable, "-c", "pass"]

HELLO = """
name: hello
on_unresolved: tag
on: {image: {repositories: ["acme/*"]}}
jobs:
  smoke:
    steps:
      - run: "true"
"""


def timed(
    command: list[str], env: Mapping[str, str], cwd: Path, exit_code: int = 0
) -> tuple[float, float]:
    """Seconds from spawn to exit, and the CPU seconds (user + system) the process used;
    the command must succeed. CPU time says what wall time says on a quiet machine: on
    2 cores shared with other work, the wall time mostly measures the wait for a core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=False)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != exit_code:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu


def timings(
    tools: dict[str, Callable[[int], tuple[float, float]]], runs: int
) -> dict[str, list[tuple[float, float]]]:
    """Each tool's (wall, CPU) seconds per round, `runs` rounds after 2 warm-ups, the
    tools taking turns going first."""
    times: dict[str, list[tuple[float, float]]] = {who: [] for who in tools}
    order = list(tools)
    for i in range(runs + 2):
        for who in order[i % len(order) :] + order[: i % len(order)]:
            took = tools[who](i)
            if i >= 2:
                times[who].append(took)
    return times


def median_ms(times: list[tuple[float, float]]) -> tuple[float, float]:
    return (
        round(statistics.median(w for w, _ in times) * 1000, 1),
        round(statistics.median(c for _, c in times) * 1000, 1),
    )


def medians(
    tools: dict[str, Callable[[int], tuple[float, float]]], runs: int
) -> dict[str, tuple[float, float]]:
    """Each tool's median wall and CPU ms over `runs` (see `timings`)."""
    return {who: median_ms(t) for who, t in timings(tools, runs).items()}


def paired_difference_ms(
    more: list[tuple[float, float]], less: list[tuple[float, float]]
) -> tuple[float, float]:
    """The median, over rounds, of `more` less `less` in the same round (wall, CPU ms).
    Two ~100 ms processes differ by a few ms; the difference of their medians moves by
    as much as the machine's pace drifts between rounds, a round's own difference does
    not (the two ran seconds apart)."""
    return median_ms([(a[0] - b[0], a[1] - b[1]) for a, b in zip(more, less, strict=True)])


def figures(name: str, got: tuple[float, float]) -> dict[str, float]:
    return {f"{name}_ms": got[0], f"{name}_cpu_ms": got[1]}


def version(env: Mapping[str, str], cwd: Path, runs: int) -> dict[str, object]:
    got = medians(
        {
            "python": lambda _: timed(PASS, env, cwd),
            "version": lambda _: timed([*TIDEGATE, "--version"], env, cwd),
            "help": lambda _: timed([*TIDEGATE, "--help"], env, cwd),
        },
        runs,
    )
    return {
        "case": "version",
        **figures("python_pass", got["python"]),
        **figures("tidegate", got["version"]),
        "ratio": round(got["version"][0] / got["python"][0], 2),
        **figures("help", got["help"]),
        "target": "tidegate_ms < 150",
    }


def runs_listed(tmp: Path, runs: int) -> dict[str, object]:
    env = serve_env(tmp)
    (tmp / "workflows" / "hello.yaml").write_text(HELLO)
    server = ServeProcess(env=env, cwd=tmp, url=env["TIDEGATE_URL"]).start()
    try:
        for i in range(20):
            timed([*TIDEGATE, "simulate", "dockerhub", f"acme/app:v{i}", "--wait"], env, tmp)
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        with httpx2.Client(base_url=server.url, headers=headers) as api:

            def request(_: int) -> tuple[float, float]:
                start, cpu = time.perf_counter(), time.process_time()
                api.get("/api/v1/runs", params={"limit": 20}).raise_for_status()
                return time.perf_counter() - start, time.process_time() - cpu

            got = medians(
                {
                    "python": lambda _: timed(PASS, env, tmp),
                    "runs": lambda _: timed([*TIDEGATE, "runs"], env, tmp),
                    "request": request,
                },
                runs,
            )
    finally:
        server.stop()
    return {
        "case": "runs",
        **figures("python_pass", got["python"]),
        **figures("tidegate", got["runs"]),
        "ratio": round(got["runs"][0] / got["python"][0], 2),
        "request_ms": got["request"][0],  # the same GET from this process: the server's part
    }


def promote_retag(tmp: Path, runs: int, megabytes: int) -> dict[str, object]:
    tmp.mkdir(parents=True)
    registry = Registry(root=tmp / "registry").start()
    try:
        payload = os.urandom(megabytes * 1024 * 1024 // 2).hex()
        image = ImageBuilder(tmp / "images").build("big", files={"/data/blob": payload})
        source = f"{registry.host}/bench/app:v1"
        digest = push(image, source)
        env = {
            **serve_env(tmp / "cli"),
            "TIDEGATE_REGISTRY_ALLOWED_HOSTS": registry.host,
            "HOME": str(tmp),  # no docker config.json of the user's
        }

        def skopeo(i: int) -> tuple[float, float]:
            to = f"docker://{registry.host}/bench/app:skopeo-{i}"
            flags = ["--quiet", "--src-tls-verify=false", "--dest-tls-verify=false"]
            return timed(["skopeo", "copy", "--all", *flags, f"docker://{source}", to], env, tmp)

        def tidegate(i: int) -> tuple[float, float]:
            to = f"{registry.host}/bench/app:tg-{i}"
            return timed([*TIDEGATE, "promote", source, to], env, tmp)

        # All a promotion does before it reaches the registry (imports, arguments,
        # settings, the event loop), then stops: at the source's name, which is invalid.
        startup = [*TIDEGATE, "promote", f"{registry.host}/Not/Valid:v1", source]
        times = timings(
            {
                "skopeo": skopeo,
                "tidegate": tidegate,
                "startup": lambda _: timed(startup, env, tmp, exit_code=1),
                "python": lambda _: timed(PASS, env, tmp),
            },
            runs,
        )
        for i in range(runs + 2):
            assert digest_of(f"{registry.host}/bench/app:tg-{i}") == digest
    finally:
        registry.stop()
    got = {who: median_ms(t) for who, t in times.items()}
    beyond, beyond_cpu = paired_difference_ms(times["tidegate"], times["startup"])
    return {
        "case": "promote_retag",
        **figures("skopeo", got["skopeo"]),
        **figures("tidegate", got["tidegate"]),
        "ratio": round(got["tidegate"][0] / got["skopeo"][0], 2),
        **figures("python_pass", got["python"]),
        **figures("startup", got["startup"]),
        "beyond_startup_ms": beyond,
        "beyond_startup_cpu_ms": beyond_cpu,
        "beyond_ratio": round(beyond / got["skopeo"][0], 2),
        "target": "tidegate_ms <= 300, beyond_ratio <= 0.3",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--megabytes", type=int, default=8)
    parser.add_argument("--cases", default="version,runs,promote_retag")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        # Bytecode, as an installed tidegate has it: with PYTHONDONTWRITEBYTECODE (set
        # in some sandboxes) every run would compile tidegate's sources again, ~30 ms
        # of start-up. The cache goes to the temporary directory, not the source tree.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ.setdefault("PYTHONPYCACHEPREFIX", str(tmp / "pycache"))
        if "version" in cases:
            env = serve_env(tmp / "version")
            print(json.dumps({"repeats": args.runs, **version(env, tmp, args.runs)}), flush=True)
        if "runs" in cases:
            listed = runs_listed(tmp / "runs", args.runs)
            print(json.dumps({"repeats": args.runs, **listed}), flush=True)
        if "promote_retag" in cases:
            retag = promote_retag(tmp / "promote", args.runs, args.megabytes)
            shown = {"repeats": args.runs, "megabytes": args.megabytes, **retag}
            print(json.dumps(shown), flush=True)


if __name__ == "__main__":
    main()
