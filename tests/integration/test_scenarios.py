"""Workflows run end to end, one folder each (as Woodpecker's pipeline tests):
tests/fixtures/scenarios/NN_name/workflow.yaml is run on a push, and expected.json says
what the run must come to. Add a folder to add a case.

expected.json's keys (any other is an error, so a misspelt check never passes quietly):
- push: the simulated push (`reference`, and `source`: dockerhub or registry, `pusher`,
  `registry`...); settings: server settings for this case (e.g. `secrets`);
- status: the run's; jobs: every job's status, by id; steps: "JOB#INDEX" -> fields the
  step must have (a value {"startswith": "..."} matches a prefix);
- log_contains, log_lacks: text in or not in the run's log; log_matches: regular
  expressions to search it for; log_lines: "JOB#INDEX STREAM: TEXT" lines that must
  appear in this order; `{run_id}` in any of these is the run's id;
- within_seconds: the push-to-end bound.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import Server, post_push, write_workflow

SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"
KEYS = {
    "push",
    "settings",
    "status",
    "jobs",
    "steps",
    "log_contains",
    "log_lacks",
    "log_matches",
    "log_lines",
    "within_seconds",
}


def scenarios() -> list[str]:
    return sorted(p.name for p in SCENARIOS.iterdir() if (p / "workflow.yaml").exists())


def test_every_scenario_folder_is_complete() -> None:
    folders = sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir())
    assert folders == scenarios()
    for name in folders:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+", name), name
        expected = json.loads((SCENARIOS / name / "expected.json").read_text())
        assert set(expected) <= KEYS, f"{name}: unknown keys {set(expected) - KEYS}"
        assert {"push", "status"} <= set(expected), name


@pytest.mark.parametrize("scenario", scenarios())
def test_scenario(scenario: str, server_factory: Callable[..., Server]) -> None:
    folder = SCENARIOS / scenario
    expected = json.loads((folder / "expected.json").read_text())
    server = server_factory(**expected.get("settings", {}))
    write_workflow(server.settings, scenario, (folder / "workflow.yaml").read_text())
    started = time.monotonic()
    (run_id,) = post_push(server, **expected["push"])
    run = server.wait_run(run_id, timeout=60)
    took = time.monotonic() - started
    log = server.logs(run_id)
    log = log if log.endswith("\n") else log + "\n"
    expect = json.loads(json.dumps(expected).replace("{run_id}", run_id))

    assert run["status"] == expect["status"], log
    if "jobs" in expect:
        assert {j["job_id"]: j["status"] for j in run["jobs"]} == expect["jobs"], log
    steps = {f"{s['job_id']}#{s['index']}": s for s in run["steps"]}
    for where, fields in expect.get("steps", {}).items():
        assert where in steps, f"no step {where}: {sorted(steps)}"
        for name, value in fields.items():
            assert _matches(steps[where].get(name), value), (where, name, steps[where], log)
    for text in expect.get("log_contains", []):
        assert text in log, (text, log)
    for text in expect.get("log_lacks", []):
        assert text not in log, (text, log)
    for pattern in expect.get("log_matches", []):
        assert re.search(pattern, log), (pattern, log)
    if "log_lines" in expect:
        lines = [line.split(" ", 1)[1] for line in log.splitlines() if " " in line]
        in_order = iter(lines)
        for wanted in expect["log_lines"]:
            assert any(line == wanted for line in in_order), (wanted, expect["log_lines"], log)
    if "within_seconds" in expect:
        assert took < expect["within_seconds"], took


def _matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict) and set(expected) == {"startswith"}:
        return isinstance(actual, str) and actual.startswith(expected["startswith"])
    return bool(actual == expected)
