"""The intake answers once a delivery is stored; the engine starts its runs on its own.

Runs a process accepted without an engine are started by the process that has one;
deliveries arriving together are committed together and each gets its own answer; a
hook revoked behind this process's back is refused from the next delivery on.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import dbos._dbos as dbos_instance
import httpx2
from sqlalchemy import update

from tests.support import Server, eventually, make_settings, start_server, write_workflow
from tidegate.engine import launch
from tidegate.events.sources.dockerhub import dockerhub_payload
from tidegate.store.db import Database
from tidegate.store.models import Hook

STEP = """
name: {name}
on_unresolved: tag
on:
  image:
    repositories: ["acme/*"]
jobs:
  a:
    steps:
      - run: "{command}"
"""
ONE_STEP = STEP.format(name="one", command="true")


def events_stored(server: Server) -> int:
    with server.client() as c:
        return len(c.get("/api/v1/events", params={"limit": 200}).json())


def test_runs_accepted_by_an_http_only_process_are_started_by_the_engine(
    server_factory: Callable[..., Server], tmp_path: Path, database_url: str
) -> None:
    # The sweep would start them too, but only after its interval: the launcher's poll
    # finds another process's commits within a second.
    engine = server_factory(wake_interval=600)
    write_workflow(engine.settings, "one", ONE_STEP)
    http_only = start_server(make_settings(tmp_path, database_url, run_engine=False))
    try:
        answer = http_only.post_hook("dockerhub", dockerhub_payload("acme/web:v1")).json()
        assert len(answer["runs"]) == 1
        assert engine.wait_run(answer["runs"][0])["status"] == "succeeded"
    finally:
        http_only.stop()


def test_deliveries_arriving_together_each_get_their_own_answer(server: Server) -> None:
    write_workflow(server.settings, "one", ONE_STEP)
    bodies = [dockerhub_payload(f"acme/web:v{i}") for i in range(12)] * 2  # each twice

    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(lambda b: server.post_hook("dockerhub", b), bodies))

    assert all(a.status_code == 202 for a in answers), [a.text for a in answers]
    for first, second in zip(answers[:12], answers[12:], strict=True):
        one, two = first.json(), second.json()
        # One of the two stored the push and planned its run; the other is its duplicate.
        assert sorted([len(one["events"]), len(two["events"])]) == [0, 1]
        assert one["events"] + one["duplicates"] == two["events"] + two["duplicates"]
        assert len(one["runs"] + two["runs"]) == 1
    assert events_stored(server) == 12
    for answer in answers:
        for run_id in answer.json()["runs"]:
            assert server.wait_run(run_id)["status"] == "succeeded"


def test_a_hook_revoked_by_another_process_is_refused_from_the_next_delivery(
    server: Server,
) -> None:
    assert server.post_hook("dockerhub", dockerhub_payload("acme/web:v1")).status_code == 202
    token = server.hooks["dockerhub"].rsplit("/", 1)[1]
    # Another process's revocation: straight into the database, unseen by this one.
    db = Database(server.settings.db_url)
    try:
        with db.session() as session:
            session.execute(update(Hook).values(revoked_at=datetime.now(UTC)))
    finally:
        db.dispose()
    for tag in ("v2", "v3"):
        refused = server.post_hook("dockerhub", dockerhub_payload(f"acme/web:{tag}"))
        assert refused.status_code == 404
    assert events_stored(server) == 1
    assert httpx2.post(server.hooks["dockerhub"].replace(token, token + "x")).status_code == 404


def test_runs_run_on_the_engines_loop_not_the_one_answering_requests(server: Server) -> None:
    # A workflow is a task on the loop that starts it: on the server's, every answer
    # would wait out each chunk of engine work (launch.on_engine).
    write_workflow(server.settings, "sleeps", STEP.format(name="sleeps", command="sleep 30"))
    [run_id] = server.post_hook("dockerhub", dockerhub_payload("acme/web:v1")).json()["runs"]
    eventually(lambda: server.run(run_id)["status"] == "running", timeout=30)

    engine = launch.engine_loop()
    assert engine is not None
    tasks = [t for t in dbos_instance._dbos_global_instance._workflow_tasks if not t.done()]
    assert tasks, "the running run has a workflow task"
    assert {task.get_loop() for task in tasks} == {engine}
    assert getattr(engine, "_thread_id") != server._thread.ident  # uvicorn's thread

    with server.client() as c:
        assert c.post(f"/api/v1/runs/{run_id}/cancel").status_code == 202
    assert server.wait_run(run_id)["status"] == "cancelled"


def test_runs_over_max_running_runs_stay_queued_until_one_ends(
    server_factory: Callable[..., Server],
) -> None:
    server = server_factory(max_running_runs=1)
    write_workflow(server.settings, "two", STEP.format(name="two", command="sleep 2"))
    first = server.post_hook("dockerhub", dockerhub_payload("acme/web:v1")).json()["runs"]
    second = server.post_hook("dockerhub", dockerhub_payload("acme/web:v2")).json()["runs"]

    eventually(lambda: server.run(first[0])["status"] == "running", timeout=30)
    assert server.run(second[0])["status"] == "queued"
    done = server.wait_run(first[0])
    assert done["status"] == "succeeded"
    later = server.wait_run(second[0])
    assert later["status"] == "succeeded"
    assert later["started_at"] >= done["finished_at"]
