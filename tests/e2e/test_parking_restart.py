"""Parked runs across restarts: after kill -9 the engine has nothing of theirs to
recover, and a decision (taken before or after the restart, by this process or by an
HTTP-only one while the engine is down) continues its run exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.support import ServeProcess, eventually, free_port, serve_env
from tidegate.events.sources.dockerhub import dockerhub_payload

WORKFLOW = """
name: gate
on_unresolved: tag
on: {{image: {{repositories: ["acme/*"]}}}}
jobs:
  approve:
    approval: {{approvers: [admin], timeout: 1h}}
  deploy:
    needs: [approve]
    steps:
      - run: echo ${{{{ event.tag }}}} >> {marks}/deploy
finally:
  - run: echo ${{{{ event.tag }}}} >> {marks}/finally
"""


def lines(path: Path) -> list[str]:
    return sorted(path.read_text().splitlines()) if path.exists() else []


@pytest.fixture
def pair(tmp_path: Path, database_url: str) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    """The engine, and an HTTP-only process on the same database."""
    (tmp_path / "marks").mkdir()
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "gate.yaml").write_text(WORKFLOW.format(marks=tmp_path / "marks"))
    env = serve_env(tmp_path, database_url)
    engine = ServeProcess(env=env, cwd=tmp_path, url=env["TIDEGATE_URL"])
    port = free_port()
    front_env = {
        **env,
        "TIDEGATE_RUN_ENGINE": "false",
        "TIDEGATE_PORT": str(port),
        "TIDEGATE_URL": f"http://127.0.0.1:{port}",
    }
    front = ServeProcess(env=front_env, cwd=tmp_path, url=front_env["TIDEGATE_URL"])
    try:
        yield engine, front
    finally:
        front.stop()
        engine.stop()


def park(engine: ServeProcess, tags: list[str]) -> dict[str, tuple[str, str]]:
    """A parked run per tag: (run id, approval id) by tag."""
    parked = {}
    for tag in tags:
        response = httpx2.post(engine.hooks["dockerhub"], content=dockerhub_payload(f"acme/{tag}"))
        assert response.status_code == 202, response.text
        (run_id,) = response.json()["runs"]
        eventually(lambda r=run_id: engine.run(r)["status"] == "waiting", timeout=30)
        (approval,) = engine.run(run_id)["approvals"]
        parked[tag] = (run_id, approval["id"])
    return parked


def approve(server: ServeProcess, approval_id: str) -> None:
    with server.client() as c:
        response = c.post(f"/api/v1/approvals/{approval_id}/approve", json={})
        assert response.status_code == 200, response.text


def test_decisions_before_and_after_a_kill_each_finish_their_run_once(
    pair: tuple[ServeProcess, ServeProcess], tmp_path: Path
) -> None:
    engine, front = pair
    engine.start()
    parked = park(engine, ["web:v1", "web:v2", "web:v3"])
    engine.kill9()
    front.start()
    approve(front, parked["web:v1"][1])  # while the engine is down
    engine.start()
    assert engine.run(parked["web:v2"][0])["status"] == "waiting"
    approve(engine, parked["web:v2"][1])
    for tag in ("web:v1", "web:v2"):
        assert engine.wait_run(parked[tag][0])["status"] == "succeeded"
    assert engine.run(parked["web:v3"][0])["status"] == "waiting"
    marks = tmp_path / "marks"
    assert lines(marks / "deploy") == ["v1", "v2"]
    assert lines(marks / "finally") == ["v1", "v2"]
