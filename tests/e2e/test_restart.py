"""kill -9 the server mid-step and mid-approval; after a restart the runs finish right.

Side effects are counted in files: a finished step never runs again, the step in
flight runs again at most once, and the callback reaches Docker Hub's stand-in once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.parts import FlakyProxy, ImageBuilder, Registry, digest_of
from tests.parts import push as push_image
from tests.support import ServeProcess, eventually, serve_env
from tidegate.events.sources.dockerhub import dockerhub_payload


@pytest.fixture
def serve(tmp_path: Path, database_url: str, httpserver: HTTPServer) -> Iterator[ServeProcess]:
    env = serve_env(
        tmp_path, database_url, TIDEGATE_CALLBACK_ALLOWED_HOSTS=f"127.0.0.1:{httpserver.port}"
    )
    process = ServeProcess(env=env, cwd=tmp_path, url=env["TIDEGATE_URL"])
    try:
        yield process
    finally:
        process.stop()


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def push(serve: ServeProcess, reference: str, callback: str) -> str:
    import httpx2

    response = httpx2.post(
        serve.hooks["dockerhub"], content=dockerhub_payload(reference, callback_url=callback)
    )
    assert response.status_code == 202, response.text
    (run_id,) = response.json()["runs"]
    return str(run_id)


def test_kill_during_a_step(serve: ServeProcess, tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/cb", method="POST").respond_with_json({})
    marks = tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "workflows" / "crash.yaml").write_text(
        f"""
name: crash
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  first:
    steps:
      - run: echo x >> {marks}/first
  second:
    needs: [first]
    steps:
      - run: |
          echo x >> {marks}/second-start
          while [ ! -e {marks}/go ]; do sleep 0.05; done
          echo x >> {marks}/second-end
finally:
  - callback: dockerhub
"""
    )
    serve.start()
    run_id = push(serve, "acme/web:v1", f"http://127.0.0.1:{httpserver.port}/cb")
    eventually(lambda: lines(marks / "second-start") == 1)
    serve.kill9()
    # The step waits for `go`, not for a while: an orphan the restart failed to reap
    # would still be waiting when `go` appears, however slow the restart was.
    serve.start()
    (marks / "go").touch()
    run = serve.wait_run(run_id, timeout=60)
    assert run["status"] == "succeeded", run
    assert lines(marks / "first") == 1  # finished before the crash: not repeated
    assert lines(marks / "second-start") == 2  # in flight: run again, once
    # The orphan of the killed server was reaped: only the re-run finished the step.
    assert lines(marks / "second-end") == 1
    assert len(httpserver.log) == 1
    assert json.loads(httpserver.log[0][0].get_data())["state"] == "success"


def test_kill_during_an_approval(
    serve: ServeProcess, tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/cb", method="POST").respond_with_json({})
    marks = tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "workflows" / "gate.yaml").write_text(
        f"""
name: gate
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  test:
    steps:
      - run: echo x >> {marks}/test
  approve:
    needs: [test]
    approval: {{approvers: [admin], timeout: 1h}}
  deploy:
    needs: [approve]
    steps:
      - run: echo x >> {marks}/deploy
finally:
  - callback: dockerhub
"""
    )
    serve.start()
    run_id = push(serve, "acme/web:v2", f"http://127.0.0.1:{httpserver.port}/cb")
    eventually(lambda: serve.run(run_id)["status"] == "waiting", timeout=30)
    serve.kill9()
    serve.start()
    assert serve.run(run_id)["status"] == "waiting"
    (approval,) = serve.run(run_id)["approvals"]
    with serve.client() as c:
        response = c.post(
            f"/api/v1/approvals/{approval['id']}/approve", json={"comment": "after the crash"}
        )
        assert response.status_code == 200, response.text
    run = serve.wait_run(run_id, timeout=60)
    assert run["status"] == "succeeded", run
    assert lines(marks / "test") == 1
    assert lines(marks / "deploy") == 1
    assert len(httpserver.log) == 1


def test_kill_during_a_cross_registry_promotion(tmp_path: Path, database_url: str) -> None:
    source = Registry(tmp_path / "source")
    target = Registry(tmp_path / "target").start()
    # A slow link to the target: the first blob upload's last PUT waits long enough for
    # the server to be killed in the middle of the copy.
    proxy = FlakyProxy(
        upstream=target.host,
        stall=lambda method, path: 8.0 if method == "PUT" and "/blobs/uploads/" in path else 0.0,
    ).start()
    env = serve_env(tmp_path, database_url)
    (tmp_path / "workflows" / "promote.yaml").write_text(
        f"""
name: promote
on: {{image: {{repositories: ["demo/*"]}}}}
jobs:
  promote:
    steps:
      - promote: {{to: ["{proxy.host}/prod/app:stable"]}}
"""
    )
    serve = ServeProcess(env=env, cwd=tmp_path, url=env["TIDEGATE_URL"])
    try:
        serve.start()
        source.notify_url = serve.hooks["registry"]
        source.start()
        payload = os.urandom(2 * 1024 * 1024).hex()
        image = ImageBuilder(tmp_path / "images").build("big", files={"/data/blob": payload})
        digest = push_image(image, f"{source.host}/demo/app:v1")
        eventually(lambda: proxy.stalled, timeout=60)
        serve.kill9()
        serve.start()
        run_id = eventually(lambda: _first_run(serve), timeout=30)
        run = serve.wait_run(run_id, timeout=120)
        assert run["status"] == "succeeded", run
        assert [p["digest"] for p in run["promotions"]] == [digest]
        assert digest_of(f"{target.host}/prod/app:stable") == digest
    finally:
        serve.stop()
        proxy.stop()
        source.stop()
        target.stop()


def _first_run(serve: ServeProcess) -> str | None:
    with serve.client() as c:
        runs = c.get("/api/v1/runs").json()
    return str(runs[0]["id"]) if runs else None
