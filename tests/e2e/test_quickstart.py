"""A newcomer's first minutes: the README's start command, then `simulate` and `runs`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import httpx2

from tests.support import eventually, free_port

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    """The shell commands of the README's set-up section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section, flags=re.S)


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = readme_commands()
    assert commands == ["scripts/quickstart", "scripts/test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test" in ci


def test_quickstart_serves_and_simulate_makes_a_succeeding_run(tmp_path: Path) -> None:
    # A fresh clone: the tracked files only, no environment, no data.
    checkout = tmp_path / "tidegate"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (t.decode() for t in tracked)):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, checkout / name)
    assert not (checkout / ".venv").exists()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
    env["TIDEGATE_REGISTRY_ALLOWED_HOSTS"] = "127.0.0.1:*"  # tests stay on loopback
    (first_command,) = readme_commands()[:1]
    log = (tmp_path / "serve.log").open("wb")
    # Its own session: the shell, the script and the server stop together. Another port
    # than the default, as `--port` and nothing else: the commands below find the server
    # without TIDEGATE_URL.
    server = subprocess.Popen(
        f"{first_command} --port {port}",
        shell=True,
        cwd=checkout,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # The first start creates the environment (pip install) before serving.
        eventually(
            lambda: _ready(f"http://127.0.0.1:{port}/readyz") or server.poll() is not None,
            timeout=300,
            interval=0.5,
        )
        assert server.poll() is None, (tmp_path / "serve.log").read_text()
        banner = (tmp_path / "serve.log").read_text()
        assert f"http://127.0.0.1:{port}/hooks/dockerhub/tgh_" in banner
        assert (checkout / ".tidegate" / "tidegate.db").exists()

        tidegate = [str(checkout / ".venv" / "bin" / "tidegate")]
        sim = subprocess.run(
            [*tidegate, "simulate", "dockerhub", "acme/web:v1.2.3", "--json", "--wait"],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sim.returncode == 0, sim.stderr
        run_ids = json.loads(sim.stdout)["runs"]
        runs = subprocess.run(
            [*tidegate, "runs", "--json"],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert runs.returncode == 0, runs.stderr
        listed = {run["id"]: run for run in json.loads(runs.stdout)}
        hello = [listed[r] for r in run_ids if listed[r]["workflow_name"] == "hello"]
        assert len(hello) == 1 and hello[0]["status"] == "succeeded"
        table = subprocess.run(
            [*tidegate, "runs"], cwd=checkout, env=env, capture_output=True, text=True, timeout=60
        )
        assert hello[0]["id"] in table.stdout and "succeeded" in table.stdout
        # The banner says how to sign in; the first start's password opens the web UI.
        assert f"Sign in at http://127.0.0.1:{port}/ as admin" in banner
        saved = json.loads((checkout / ".tidegate" / "credentials.json").read_text())
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as browser:
            form = browser.get("/runs", follow_redirects=True)
            assert form.status_code == 200 and "Sign in" in form.text  # via /login
            token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            signed = browser.post(
                "/login",
                data={"name": "admin", "password": saved["admin_password"], "csrf_token": token},
            )
            assert signed.status_code == 303
            assert hello[0]["id"] in browser.get("/runs").text
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def _ready(url: str) -> bool:
    try:
        return httpx2.get(url, timeout=2).status_code == 200
    except httpx2.TransportError:
        return False
