"""`/metrics`: Tidegate's figures, counted from the database, beside the process ones."""

from __future__ import annotations

import httpx2
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Server, eventually, write_workflow
from tidegate.events.sources.dockerhub import dockerhub_payload


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx2.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_events_runs_steps_and_approvals(server: Server) -> None:
    write_workflow(
        server.settings,
        "checks",
        """
name: checks
on_unresolved: tag
on: {image: {repositories: ["acme/*"], tags: ["v*"]}}
jobs:
  test:
    steps:
      - run: "true"
      - run: "exit 3"
""",
    )
    write_workflow(
        server.settings,
        "gate",
        """
name: gate
on_unresolved: tag
on: {image: {repositories: ["acme/*"], tags: ["v*"]}}
jobs:
  approve:
    approval: {approvers: [admin]}
""",
    )
    before = scrape(server)
    assert ("process_cpu_seconds_total", ()) in before  # the process collectors are there
    assert before.get(("tidegate_approvals_pending", ()), None) == 0

    runs = server.post_hook("dockerhub", dockerhub_payload("acme/web:v1")).json()["runs"]
    assert len(runs) == 2
    statuses = {server.run(r)["workflow_name"]: r for r in runs}
    assert server.wait_run(statuses["checks"])["status"] == "failed"
    eventually(lambda: server.run(statuses["gate"])["status"] == "waiting")

    after = scrape(server)

    # Durations, kept by the process that ran them (and by this test process across
    # servers): the difference since the first scrape.
    def grown(name: str, labels: dict[str, str]) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    step = {"kind": "run", "status": "failed"}
    assert grown("tidegate_step_duration_seconds_count", step) == 1
    assert grown("tidegate_step_duration_seconds_bucket", {**step, "le": "+Inf"}) == 1
    checks = {"workflow": "checks", "status": "failed"}
    assert grown("tidegate_run_duration_seconds_count", checks) == 1
    assert 0 < grown("tidegate_run_duration_seconds_sum", checks) < 60
    assert after[("tidegate_events_total", (("source", "dockerhub"),))] == 1
    failed = ("tidegate_runs_finished_total", (("status", "failed"), ("workflow", "checks")))
    assert after[failed] == 1
    waiting = ("tidegate_runs_active", (("status", "waiting"), ("workflow", "gate")))
    assert after[waiting] == 1
    assert after[("tidegate_steps_finished_total", (("kind", "run"), ("status", "succeeded")))] == 1
    assert after[("tidegate_steps_finished_total", (("kind", "run"), ("status", "failed")))] == 1
    assert after[("tidegate_approvals_pending", ())] == 1

    (approval,) = server.run(statuses["gate"])["approvals"]
    with server.client() as c:
        c.post(f"/api/v1/approvals/{approval['id']}/approve", json={})
    assert server.wait_run(statuses["gate"])["status"] == "succeeded"
    final = scrape(server)
    assert final[("tidegate_approvals_pending", ())] == 0
    approved = ("tidegate_approval_wait_seconds_count", (("outcome", "approved"),))
    assert final[approved] - before.get(approved, 0) == 1
    assert ("tidegate_runs_active", (("status", "waiting"), ("workflow", "gate"))) not in final
    assert (
        final[("tidegate_runs_finished_total", (("status", "succeeded"), ("workflow", "gate")))]
        == 1
    )
