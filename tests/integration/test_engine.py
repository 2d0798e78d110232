"""The engine through its API: step variables, DAGs, retries, timeouts, cancel, re-run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.support import Server, eventually, write_workflow
from tidegate.simulate import dockerhub_payload, registry_payload
from tidegate.store.db import Database
from tidegate.store.models import Run


def push(server: Server, reference: str, source: str = "dockerhub", **kwargs: str) -> list[str]:
    if source == "dockerhub":
        body = dockerhub_payload(reference, **kwargs)
        response = server.post_hook("dockerhub", body)
    else:
        body = registry_payload(reference, **kwargs)
        response = server.post_hook(
            "registry", body, "application/vnd.docker.distribution.events.v2+json"
        )
    assert response.status_code == 202, response.text
    return list(response.json()["runs"])


def test_run_step_sees_the_event_variables(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    write_workflow(
        server.settings,
        "env",
        f"""
name: env
on_unresolved: tag
on:
  image:
    repositories: ["acme/*"]
env:
  WF: "${{{{ event.tag }}}}-wf"
jobs:
  dump:
    env: {{JOB: job-level}}
    steps:
      - run: python3 -c 'import json, os; json.dump(dict(os.environ), open("{out}", "w"))'
        env: {{STEP: step-level}}
""",
    )
    (run_id,) = push(server, "acme/web:v1.2.3", pusher="alice")
    run = server.wait_run(run_id)
    assert run["status"] == "succeeded", server.logs(run_id)
    env = json.loads(out.read_text())
    assert env["TIDEGATE_IMAGE"] == "docker.io/acme/web:v1.2.3"
    assert env["TIDEGATE_REGISTRY"] == "docker.io"
    assert env["TIDEGATE_REPOSITORY"] == "acme/web"
    assert env["TIDEGATE_TAG"] == "v1.2.3"
    assert env["TIDEGATE_PUSHER"] == "alice"
    assert env["TIDEGATE_SOURCE"] == "dockerhub"
    assert env["TIDEGATE_RUN_ID"] == run_id
    assert env["TIDEGATE_RUN_URL"].endswith(f"/runs/{run_id}")
    assert env["DOCKER_TRIGGER_REPO_NAME"] == "acme/web"
    assert env["DOCKER_TRIGGER_TAG"] == "v1.2.3"
    assert env["DOCKER_TRIGGER_PUSHER"] == "alice"
    assert env["DOCKER_TRIGGER_DOCKER_HUB_HOST"] == "docker.io"
    assert (env["WF"], env["JOB"], env["STEP"]) == ("v1.2.3-wf", "job-level", "step-level")
    # The server's own secrets and settings stay out of user scripts.
    assert not any(key.startswith("TIDEGATE_SECRET") for key in env)
    assert "TIDEGATE_DATABASE_URL" not in env


def test_registry_event_digest_reaches_the_step(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "digest"
    write_workflow(
        server.settings,
        "d",
        f"""
name: d
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  a:
    steps:
      - run: echo "$TIDEGATE_DIGEST $TIDEGATE_IMAGE" > {out}
""",
    )
    (run_id,) = push(server, "team/api:1.0", source="registry", registry="127.0.0.1:5000")
    assert server.wait_run(run_id)["status"] == "succeeded"
    digest, image = out.read_text().split()
    assert digest.startswith("sha256:")
    assert image == f"127.0.0.1:5000/team/api@{digest}"


def test_independent_jobs_run_concurrently_and_needs_wait(server: Server, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    write_workflow(
        server.settings,
        "dag",
        f"""
name: dag
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  left:
    steps:
      - run: touch {marks}/left-start; while [ ! -e {marks}/right-start ]; do sleep 0.05; done
        timeout: 20s
  right:
    steps:
      - run: touch {marks}/right-start; while [ ! -e {marks}/left-start ]; do sleep 0.05; done
        timeout: 20s
  after:
    needs: [left, right]
    steps:
      - run: test -e {marks}/left-start && test -e {marks}/right-start && touch {marks}/after
""",
    )
    (run_id,) = push(server, "acme/web:v1")
    run = server.wait_run(run_id)
    # Each of left/right waits for the other to start: only concurrency lets both finish.
    assert run["status"] == "succeeded", server.logs(run_id)
    assert (marks / "after").exists()
    assert {j["job_id"]: j["status"] for j in run["jobs"]} == {
        "left": "succeeded",
        "right": "succeeded",
        "after": "succeeded",
    }


def test_failure_skips_dependents_and_finally_sees_status(server: Server, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    write_workflow(
        server.settings,
        "fail",
        f"""
name: fail
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  build:
    steps:
      - run: echo about to fail; exit 3
      - run: echo never
  deploy:
    needs: [build]
    steps:
      - run: echo never either
  report:
    needs: [build]
    if: jobs.build.status == "failed"
    steps:
      - run: echo "build failed, reporting"
finally:
  - run: echo "${{{{ run.status }}}}" > {seen}
""",
    )
    (run_id,) = push(server, "acme/web:v1")
    run = server.wait_run(run_id)
    assert run["status"] == "failed"
    jobs = {j["job_id"]: j["status"] for j in run["jobs"]}
    assert jobs["build"] == "failed" and jobs["deploy"] == "skipped"
    assert jobs["report"] == "succeeded"
    steps = {(s["job_id"], s["index"]): s for s in run["steps"]}
    assert steps[("build", 0)]["exit_code"] == 3
    assert steps[("build", 1)]["status"] == "skipped"
    assert seen.read_text().strip() == "failed"
    assert "about to fail" in server.logs(run_id)


def test_retries_and_timeout(server: Server, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    write_workflow(
        server.settings,
        "flaky",
        f"""
name: flaky
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  flaky:
    steps:
      - run: echo x >> {counter}; test $(wc -l < {counter}) -ge 2
        retries: 2
  slow:
    steps:
      - run: sleep 30
        timeout: 1s
""",
    )
    (run_id,) = push(server, "acme/web:v1")
    run = server.wait_run(run_id)
    steps = {s["job_id"]: s for s in run["steps"]}
    assert steps["flaky"]["status"] == "succeeded" and steps["flaky"]["attempts"] == 2
    assert counter.read_text().count("x") == 2
    assert steps["slow"]["status"] == "timed_out"
    assert run["status"] == "timed_out"


def test_logs_are_lines_with_timestamps_and_secrets_masked(server: Server) -> None:
    server.settings.secrets = {"TOKEN": SecretStr("hunter2-secret")}
    write_workflow(
        server.settings,
        "logs",
        """
name: logs
on_unresolved: tag
on: {image: {repositories: ["**"]}}
jobs:
  talk:
    steps:
      - run: |
          echo first
          echo second >&2
          sleep 0.3
          echo third
          echo "token is ${{ secrets.TOKEN }}"
""",
    )
    (run_id,) = push(server, "acme/web:v1")
    server.wait_run(run_id)
    lines = [line for line in server.logs(run_id).splitlines() if "talk#0" in line]
    texts = [line.split(": ", 1)[1] for line in lines]
    assert texts[:4] == ["first", "second", "third", "token is ***"]
    assert "hunter2" not in server.logs(run_id)
    assert lines[1].split()[2] == "stderr:"
    assert lines[0][:4].isdigit() and "T" in lines[0].split()[0]


def test_cancel_kills_the_step_and_runs_finally(server: Server, tmp_path: Path) -> None:
    started, after = tmp_path / "started", tmp_path / "after"
    write_workflow(
        server.settings,
        "long",
        f"""
name: long
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  long:
    steps:
      - run: touch {started}; sleep 60
      - run: touch {after}
finally:
  - run: echo "final ${{{{ run.status }}}}"
""",
    )
    (run_id,) = push(server, "acme/web:v1")
    eventually(started.exists)
    t0 = time.monotonic()
    with server.client() as c:
        assert c.post(f"/api/v1/runs/{run_id}/cancel").status_code == 202
    run = server.wait_run(run_id, timeout=30)
    assert run["status"] == "cancelled"
    assert time.monotonic() - t0 < 20  # killed, not waited for
    assert not after.exists()
    assert "final cancelled" in server.logs(run_id)
    with server.client() as c:
        assert c.post(f"/api/v1/runs/{run_id}/cancel").status_code == 409


def test_rerun_and_replay(server: Server, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    write_workflow(
        server.settings,
        "count",
        f"""
name: count
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  a:
    steps:
      - run: echo run >> {counter}
""",
    )
    (run_id,) = push(server, "acme/web:v1")
    first = server.wait_run(run_id)
    with server.client() as c:
        rerun = c.post(f"/api/v1/runs/{run_id}/rerun").json()["runs"][0]
        again = server.wait_run(rerun)
        assert again["status"] == "succeeded" and again["rerun_of"] == run_id
        replayed = c.post(f"/api/v1/events/{first['event_id']}/replay").json()["runs"]
    assert len(replayed) == 1
    assert server.wait_run(replayed[0])["status"] == "succeeded"
    assert counter.read_text().count("run") == 3


def test_snapshot_survives_workflow_edits(server: Server, tmp_path: Path) -> None:
    gate, out = tmp_path / "gate", tmp_path / "out"
    text = f"""
name: snap
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  a:
    steps:
      - run: while [ ! -e {gate} ]; do sleep 0.05; done
        timeout: 20s
      - run: echo original > {out}
"""
    path = write_workflow(server.settings, "snap", text)
    (run_id,) = push(server, "acme/web:v1")
    eventually(lambda: server.run(run_id)["status"] == "running")
    path.write_text(text.replace("original", "edited"))
    gate.touch()
    assert server.wait_run(run_id)["status"] == "succeeded"
    assert out.read_text().strip() == "original"


def test_concurrency_key_serialises_runs(server: Server, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    write_workflow(
        server.settings,
        "serial",
        f"""
name: serial
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
concurrency: deploy-${{{{ event.repository }}}}
jobs:
  a:
    steps:
      - run: while [ ! -e {gate} ]; do sleep 0.05; done
        timeout: 30s
""",
    )
    (first,) = push(server, "acme/web:v1")
    eventually(lambda: server.run(first)["status"] == "running")
    (second,) = push(server, "acme/web:v2")
    (other,) = push(server, "acme/api:v2")  # another key: not held back
    eventually(lambda: server.run(other)["status"] == "running")
    assert server.run(second)["status"] == "queued"
    gate.touch()
    assert server.wait_run(first)["status"] == "succeeded"
    assert server.wait_run(second)["status"] == "succeeded"
    assert server.wait_run(other)["status"] == "succeeded"


def test_job_and_run_timeouts_bound_their_steps(server: Server, tmp_path: Path) -> None:
    write_workflow(
        server.settings,
        "bounded",
        """
name: bounded
on_unresolved: tag
on: {image: {repositories: ["**"]}}
timeout: 30s
jobs:
  capped:
    timeout: 2s
    steps:
      - run: sleep 1
      - run: sleep 20
      - run: echo never
finally:
  - run: echo "finally ran after ${{ run.status }}"
""",
    )
    (run_id,) = push(server, "acme/web:v1")
    t0 = time.monotonic()
    run = server.wait_run(run_id, timeout=30)
    assert time.monotonic() - t0 < 15
    assert run["status"] == "timed_out"
    steps = {s["index"]: s["status"] for s in run["steps"] if s["job_id"] == "capped"}
    assert steps == {0: "succeeded", 1: "timed_out", 2: "skipped"}
    assert "finally ran after timed_out" in server.logs(run_id)


def test_server_environment_stays_out_of_steps(
    server_factory: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEGATE_SECRET_DEPLOY_KEY", "s3cr3t-value")
    monkeypatch.setenv("TIDEGATE_TOKEN", "tga_not_for_steps")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-steps-either")
    server = server_factory()
    out = tmp_path / "env.json"
    write_workflow(
        server.settings,
        "env",
        f"""
name: env
on_unresolved: tag
on: {{image: {{repositories: ["**"]}}}}
jobs:
  dump:
    steps:
      - run: python3 -c 'import json, os; json.dump(dict(os.environ), open("{out}", "w"))'
""",
    )
    (run_id,) = push(server, "acme/web:v1")
    assert server.wait_run(run_id)["status"] == "succeeded"
    env = json.loads(out.read_text())
    assert "PATH" in env
    leaked = {k for k in env if k.startswith("TIDEGATE_SECRET") or k == "TIDEGATE_TOKEN"}
    assert leaked == set() and "AWS_SECRET_ACCESS_KEY" not in env
    assert "s3cr3t-value" not in json.dumps(env)
    assert Path(env["TIDEGATE_WORKSPACE"]).is_absolute()


def test_promote_without_a_digest_and_container_without_engine_fail_clearly(
    server: Server,
) -> None:
    write_workflow(
        server.settings,
        "later",
        """
name: later
on_unresolved: tag
on: {image: {repositories: ["**"]}}
jobs:
  a:
    steps:
      - promote: {to: ["acme/web:production"]}
  b:
    steps:
      - container: {image: "busybox", command: ["true"]}
""",
    )
    (run_id,) = push(server, "acme/web:v1")
    run = server.wait_run(run_id)
    assert run["status"] == "failed"
    errors = {s["job_id"]: s["error"] for s in run["steps"]}
    assert errors["a"].startswith("promote needs the run's pinned digest")
    # This server has no container engine configured: the step says what to set.
    assert errors["b"].startswith("no container engine is configured: set TIDEGATE_DOCKER_HOST")
    assert "Traceback" not in server.logs(run_id)


def test_unreadable_snapshot_ends_the_run_as_an_engine_error(server: Server) -> None:
    write_workflow(
        server.settings,
        "snap",
        'name: snap\non_unresolved: tag\non: {image: {repositories: ["**"]}}\n'
        'jobs: {a: {steps: [{run: "true"}]}}\n',
    )
    (run_id,) = push(server, "acme/web:v1")
    server.wait_run(run_id)
    # A snapshot this release cannot read (as after an incompatible upgrade).
    db = Database(server.settings.db_url)
    with db.session() as session:
        row = session.get(Run, run_id)
        assert row is not None
        row.workflow_text = "name: [unclosed"
        row.workflow_digest = "sha256:broken"
    db.dispose()
    with server.client() as c:
        (rerun,) = c.post(f"/api/v1/runs/{run_id}/rerun").json()["runs"]
    run = server.wait_run(rerun)
    assert run["status"] == "failed"
    assert run["error"].startswith("engine error")


def test_long_logs_are_served_whole(server: Server) -> None:
    write_workflow(
        server.settings,
        "chatty",
        'name: chatty\non_unresolved: tag\non: {image: {repositories: ["**"]}}\n'
        'jobs: {a: {steps: [{run: "seq 12000"}]}}\n',
    )
    (run_id,) = push(server, "acme/web:v1")
    assert server.wait_run(run_id)["status"] == "succeeded"
    lines = [line for line in server.logs(run_id).splitlines() if " stdout: " in line]
    assert len(lines) == 12000
    assert lines[-1].endswith(": 12000")
