"""An HTTP-only process beside an engine process, on one database: webhooks and
decisions taken by one are carried out by the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.support import ServeProcess, eventually, free_port, serve_env
from tidegate.events.sources.dockerhub import dockerhub_payload


@pytest.fixture
def pair(tmp_path: Path, database_url: str) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "gate.yaml").write_text(
        f"""
name: gate
on_unresolved: tag
on: {{image: {{repositories: ["acme/*"]}}}}
jobs:
  approve:
    approval: {{approvers: [admin]}}
  deploy:
    needs: [approve]
    steps:
      - run: echo deployed >> {tmp_path}/deployed
"""
    )
    engine_env = serve_env(tmp_path, database_url, TIDEGATE_WAKE_INTERVAL="0.5")
    engine = ServeProcess(env=engine_env, cwd=tmp_path, url=engine_env["TIDEGATE_URL"])
    port = free_port()
    http_env = {
        **engine_env,
        "TIDEGATE_RUN_ENGINE": "false",
        "TIDEGATE_PORT": str(port),
        "TIDEGATE_URL": f"http://127.0.0.1:{port}",
    }
    front = ServeProcess(env=http_env, cwd=tmp_path, url=http_env["TIDEGATE_URL"])
    try:
        engine.start()
        front.start()
        yield front, engine
    finally:
        front.stop()
        engine.stop()


def test_front_takes_webhooks_and_decisions_engine_runs_them(
    pair: tuple[ServeProcess, ServeProcess], tmp_path: Path
) -> None:
    front, _engine = pair
    response = httpx2.post(front.hooks["dockerhub"], content=dockerhub_payload("acme/web:v1"))
    assert response.status_code == 202, response.text
    (run_id,) = response.json()["runs"]
    eventually(lambda: front.run(run_id)["status"] == "waiting", timeout=30)
    (approval,) = front.run(run_id)["approvals"]
    with front.client() as c:
        decided = c.post(f"/api/v1/approvals/{approval['id']}/approve", json={})
    assert decided.status_code == 200, decided.text
    assert front.wait_run(run_id, timeout=30)["status"] == "succeeded"
    assert (tmp_path / "deployed").read_text() == "deployed\n"
