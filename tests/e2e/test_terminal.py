"""What the terminal tells people, against a real `tidegate serve`: what a run waits for,
which server the CLI talks to, and one log line per thing that happened."""

from __future__ import annotations

import json
import re
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from typer.testing import CliRunner

from tests.support import ServeProcess, eventually, free_port, serve_env
from tidegate.cli import app
from tidegate.events.sources.dockerhub import dockerhub_payload

pytestmark = pytest.mark.slow
runner = CliRunner()

RELEASE = """
name: release
on_unresolved: tag
on: {image: {repositories: ["acme/*"], tags: ["v*"]}}
concurrency: release-${{ event.repository }}
jobs:
  smoke:
    steps:
      - run: echo "smoke $TIDEGATE_TAG"
  approve:
    needs: [smoke]
    approval: {approvers: [admin]}
finally:
  - run: echo "finally"
"""
HELLO = """
name: hello
on_unresolved: tag
on: {image: {repositories: ["acme/*"]}}
jobs:
  smoke:
    steps:
      - run: echo "hello $TIDEGATE_TAG"
"""
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    env = serve_env(tmp_path)
    (tmp_path / "workflows" / "release.yaml").write_text(RELEASE)
    (tmp_path / "workflows" / "hello.yaml").write_text(HELLO)
    process = ServeProcess(env=env, cwd=tmp_path, url=env["TIDEGATE_URL"]).start()
    try:
        yield process
    finally:
        process.stop()


def cli(env: dict[str, str | None], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def served(serve: ServeProcess) -> str:
    return (serve.cwd / "serve.log").read_text()


def simulate(serve: ServeProcess, tag: str) -> dict[str, str]:
    """The runs a `simulate --wait` of acme/web:TAG started, by workflow name."""
    code, out, err = cli(serve.env, "simulate", "dockerhub", f"acme/web:{tag}", "--json", "--wait")
    assert code == 0, err
    return {serve.run(r)["workflow_name"]: r for r in json.loads(out)["runs"]}


def test_wait_on_a_blocked_run_says_what_it_waits_for_and_returns(serve: ServeProcess) -> None:
    first = simulate(serve, "v1")["release"]
    (approval,) = serve.run(first)["approvals"]
    began = time.monotonic()
    code, out, err = cli(serve.env, "simulate", "dockerhub", "acme/web:v2", "--json", "--wait")
    assert code == 0, err
    assert time.monotonic() - began < 60  # it used to sit out its 600 s
    second = next(r for r in json.loads(out)["runs"] if serve.run(r)["workflow_name"] == "release")
    held = (
        f"concurrency key release-acme/web is held by run {first} "
        f"(waiting for approval {approval['id']})"
    )
    assert f"{second} is queued: {held}" in err

    waiting = serve.run(second)["waiting_for"]
    assert waiting["reason"] == "concurrency" and waiting["needs_decision"] is True
    assert (waiting["run_id"], waiting["approval_id"]) == (first, approval["id"])
    assert waiting["concurrency_key"] == "release-acme/web"
    assert serve.run(first)["waiting_for"]["approval_id"] == approval["id"]

    code, out, _ = cli(serve.env, "run", "show", second)
    assert code == 0 and f"queued: {held}" in out
    code, out, _ = cli(serve.env, "run", "show", first)
    assert f"waiting for approval {approval['id']} (job approve) from admin" in out
    code, out, _ = cli(serve.env, "runs")
    (row,) = [line for line in out.splitlines() if line.startswith(second)]
    assert held in row


def test_rejected_run_names_who_and_why_steps_in_run_order_and_the_log_says_it(
    serve: ServeProcess,
) -> None:
    runs = simulate(serve, "v1")
    release, hello = runs["release"], runs["hello"]
    (approval,) = serve.run(release)["approvals"]
    code, _, err = cli(serve.env, "reject", release, "--comment", "not today")
    assert code == 0, err
    assert serve.wait_run(release)["status"] == "failed"

    code, out, _ = cli(serve.env, "run", "show", release)
    assert code == 0
    assert f'error: job approve: approval {approval["id"]} rejected by admin: "not today"' in out
    assert re.search(rf'rejected by admin at {STAMP}: "not today"', out)
    ran = [line.split()[0] for line in out.splitlines() if line.startswith(("smoke", "finally"))]
    assert ran == ["smoke", "finally"]  # as they ran, not alphabetically

    code, _, err = cli(serve.env, "approve", release)
    assert code == 1
    assert f'approval {approval["id"]} was already rejected by admin: "not today"' in err

    eventually(lambda: f"run {release} release failed in " in served(serve))
    log = served(serve)
    assert re.search(
        rf"^{STAMP} webhook dockerhub: acme/web:v1 pushed by tidegate-simulate → runs "
        rf"({hello} \(hello\), {release} \(release\)|{release} \(release\), {hello} \(hello\))$",
        log,
        re.M,
    )
    assert re.search(rf"^{STAMP} run {hello} hello started$", log, re.M)
    assert re.search(rf"^{STAMP} run {hello} hello succeeded in \d+\.\ds$", log, re.M)
    assert re.search(
        rf"^{STAMP} approval {approval['id']} rejected by admin \(run {release}, job approve\): "
        r'"not today"$',
        log,
        re.M,
    )
    assert serve.admin_token not in log
    assert not any(url.rsplit("/", 1)[1] in log for url in serve.hooks.values())

    # A refused delivery gets its line too, and a newline in it forges no other line.
    bad = b'{"push_data": {"tag": "x\\nforged line"}, "repository": {"repo_name": "acme/web"}}'
    assert httpx2.post(serve.hooks["dockerhub"], content=bad, timeout=30).status_code == 400
    eventually(lambda: "webhook dockerhub: refused: push_data.tag" in served(serve))
    assert not any(line.startswith("forged") for line in served(serve).splitlines())

    # One time format everywhere: UTC, to the second, with Z.
    for args in (("logs", hello), ("logs", hello, "--follow")):
        code, out, _ = cli(serve.env, *args)
        assert code == 0 and out.strip()
        assert all(re.match(rf"{STAMP} smoke#0 ", line) for line in out.splitlines()), out
    code, out, _ = cli(serve.env, "hook", "list")
    assert re.search(STAMP, out) and "+00:00" not in out


def test_a_workflow_file_that_stops_loading_is_logged_once_with_its_position(
    serve: ServeProcess,
) -> None:
    broken = Path(serve.env["TIDEGATE_WORKFLOWS"]) / "broken.yaml"
    broken.write_text(
        HELLO.replace("name: hello", "name: broken").replace(
            'repositories: ["acme/*"]', 'repositories: ["acme/*"], tags: [">=banana"]'
        )
    )
    line = f"workflow {broken} is invalid: {broken}:4:47: on.image.tags[0]: invalid version range"
    eventually(lambda: line in served(serve))
    # Loads after it (webhooks, the API, the watcher) say nothing new.
    with serve.client() as c:
        for _ in range(3):
            assert c.get("/api/v1/workflows").status_code == 200
    simulate(serve, "v1")
    time.sleep(3)  # past the watcher's next look (2 s): that it stays silent is the point
    assert served(serve).count(f"workflow {broken} is invalid") == 1

    broken.write_text(HELLO.replace("name: hello", "name: fixed"))
    eventually(lambda: f"workflow {broken} loads again" in served(serve))


def test_json_log_format_is_json_lines(tmp_path: Path) -> None:
    env = serve_env(tmp_path, TIDEGATE_LOG_FORMAT="json")
    (tmp_path / "workflows" / "hello.yaml").write_text(HELLO)
    serve = ServeProcess(env=env, cwd=tmp_path, url=env["TIDEGATE_URL"]).start()
    try:
        (run_id,) = simulate(serve, "v1").values()
        eventually(lambda: '"run.finished"' in served(serve))
    finally:
        serve.stop()
    lines = [json.loads(line) for line in served(serve).splitlines()]
    kinds = {line.get("event"): line for line in lines}
    assert kinds["webhook"]["runs"] == [run_id] and kinds["webhook"]["source"] == "dockerhub"
    finished = kinds["run.finished"]
    assert finished["run_id"] == run_id and finished["status"] == "succeeded"
    assert finished["message"].startswith(f"run {run_id} hello succeeded in ")
    assert re.fullmatch(STAMP, finished["timestamp"]) and finished["level"] == "info"


def test_cli_finds_the_server_started_with_port(tmp_path: Path) -> None:
    env = serve_env(tmp_path)
    for name in ("TIDEGATE_URL", "TIDEGATE_PORT"):
        del env[name]
    (tmp_path / "workflows" / "hello.yaml").write_text(HELLO)
    # The first start writes hook URLs with its port into credentials.json; the server
    # then moves to another port, as `scripts/quickstart --port 9090` after a first try.
    ports = [free_port(), free_port()]
    first, serve = (
        ServeProcess(env=env, cwd=tmp_path, url=f"http://127.0.0.1:{p}", args=("--port", str(p)))
        for p in ports
    )
    first.start().stop()
    serve.start()
    try:
        cli_env: dict[str, str | None] = {**env, "TIDEGATE_URL": None, "TIDEGATE_PORT": None}
        result = runner.invoke(app, ["runs", "--json"], env=cli_env)
        assert result.exit_code == 0, result.stderr
        result = runner.invoke(
            app, ["simulate", "dockerhub", "acme/web:v1", "--json", "--wait"], env=cli_env
        )
        assert result.exit_code == 0, result.stderr
        (run_id,) = json.loads(result.stdout)["runs"]
        assert serve.run(run_id)["status"] == "succeeded"
        assert f"runs {run_id} (hello)" in served(serve)
        recorded = Path(env["TIDEGATE_DATA_DIR"]) / "server.json"
        assert json.loads(recorded.read_text())["url"] == serve.url
        assert stat.S_IMODE(recorded.stat().st_mode) == 0o600
    finally:
        serve.stop()


def test_cli_says_which_url_it_tried_and_where_tokens_come_from(serve: ServeProcess) -> None:
    elsewhere = serve.cwd / "elsewhere"
    elsewhere.mkdir()
    nowhere = {"TIDEGATE_DATA_DIR": str(elsewhere / ".tidegate"), "TIDEGATE_URL": None}
    closed = f"http://127.0.0.1:{free_port()}"
    code, _, err = cli({**nowhere, "TIDEGATE_URL": closed}, "runs")
    assert code == 1 and f"cannot reach the server at {closed}" in err and "TIDEGATE_URL" in err
    code, _, err = cli({**nowhere, "TIDEGATE_URL": serve.url, "TIDEGATE_TOKEN": None}, "runs")
    assert code == 1 and "401: an API token is required" in err
    assert "TIDEGATE_TOKEN" in err and "credentials.json" in err


def test_shutdown_with_parked_runs_cancels_no_task(tmp_path: Path) -> None:
    env = serve_env(tmp_path)
    (tmp_path / "workflows" / "gate.yaml").write_text(
        RELEASE.replace("concurrency: release-${{ event.repository }}\n", "")
    )
    serve = ServeProcess(env=env, cwd=tmp_path, url=env["TIDEGATE_URL"]).start()
    try:
        runs = []
        for n in range(8):
            answer = httpx2.post(
                serve.hooks["dockerhub"], content=dockerhub_payload(f"acme/a:v{n}")
            )
            runs += answer.json()["runs"]
        for run_id in runs:
            serve.wait_run(run_id, ("waiting",))
    finally:
        serve.stop()
    # Parked at their approval, the waiting runs hold no task: the next start has nothing
    # of theirs to recover, nor its shutdown to cancel. One run that goes on after a
    # decision shows that they were not lost.
    serve.start()
    (approval,) = serve.run(runs[0])["approvals"]
    with serve.client() as c:
        assert c.post(f"/api/v1/approvals/{approval['id']}/approve").status_code == 200
    assert serve.wait_run(runs[0])["status"] == "succeeded"
    serve.stop()
    log = served(serve)
    assert "Asyncio task cancelled" not in log
    restarted = log.rsplit("Tidegate on", 1)[1]
    assert not re.findall(rf"^{STAMP} shutdown: stopped \d+ workflow tasks", restarted, re.M)


def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    env = serve_env(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "tidegate", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert f"port {port} is in use: pass --port or set TIDEGATE_PORT" in done.stderr
    assert "Errno" not in done.stderr and not (tmp_path / "data" / "server.json").exists()
