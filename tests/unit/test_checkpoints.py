"""The run plan a workflow checkpoints reads back as it was written, and a plan
checkpointed by an earlier release (no `started` jobs) still reads."""

from __future__ import annotations

from tidegate.engine.checkpoints import JobPlan, RunPlan


def test_a_run_plan_reads_back_with_the_jobs_its_start_started() -> None:
    started = {"build": JobPlan(False, True, [0, 2]).checkpoint()}
    plan = RunPlan({"build": [], "deploy": ["build"]}, [1], started)
    restored = RunPlan.restore(plan.checkpoint())
    assert restored == plan
    assert list(restored.jobs) == ["build", "deploy"]  # file order kept
    assert JobPlan.restore(restored.started["build"]) == JobPlan(False, True, [0, 2])


def test_an_earlier_releases_plan_has_no_started_jobs() -> None:
    earlier = {"jobs": [["build", []], ["deploy", ["build"]]], "finally": []}
    restored = RunPlan.restore(earlier)
    assert restored.started == {}
    assert restored.jobs == {"build": [], "deploy": ["build"]}
