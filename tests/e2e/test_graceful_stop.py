"""SIGTERM to a busy server: a clean stop, and the runs it left finish at the next start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.support import ServeProcess, eventually, serve_env
from tidegate.events.sources.dockerhub import dockerhub_payload

RUNS = 12


@pytest.fixture
def serve(tmp_path: Path, database_url: str) -> Iterator[ServeProcess]:
    env = serve_env(tmp_path, database_url)
    process = ServeProcess(env=env, cwd=tmp_path, url=env["TIDEGATE_URL"])
    try:
        yield process
    finally:
        process.stop()


def test_stopping_a_busy_server_is_quiet_and_loses_no_run(
    serve: ServeProcess, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    # Steps short and long, so the stop finds runs in a step and between two.
    (tmp_path / "workflows" / "busy.yaml").write_text(
        f"""
name: busy
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  work:
    steps:
      - run: "true"
      - run: sleep 0.3
      - run: "true"
      - run: sleep 0.3
      - run: echo x >> {marks}/${{{{ event.tag }}}}
"""
    )
    serve.start()
    with httpx2.Client(timeout=30) as client:
        run_ids = []
        for i in range(RUNS):
            answer = client.post(
                serve.hooks["dockerhub"], content=dockerhub_payload(f"acme/web:v{i}")
            )
            assert answer.status_code == 202, answer.text
            run_ids.extend(answer.json()["runs"])
    assert len(run_ids) == RUNS

    def some_running() -> bool:
        runs = httpx2.get(
            f"{serve.url}/api/v1/runs?status=running",
            headers={"Authorization": f"Bearer {serve.admin_token}"},
        ).json()
        return len(runs) >= 2

    eventually(some_running, timeout=30, interval=0.05)
    log = tmp_path / "serve.log"
    before = log.stat().st_size
    serve.stop()
    said = log.read_text()[before:]
    assert "Traceback" not in said, said
    assert "cannot schedule new futures" not in said, said

    serve.start()
    for run_id in run_ids:
        assert serve.wait_run(run_id, timeout=90)["status"] == "succeeded"
    # Every run's last step ran: once, or twice when the stop fell in it (a step in
    # flight runs again).
    assert sorted(p.name for p in marks.iterdir()) == sorted(f"v{i}" for i in range(RUNS))
    assert all(p.read_text() in ("x\n", "x\nx\n") for p in marks.iterdir())
