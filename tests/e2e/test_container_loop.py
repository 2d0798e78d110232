"""The whole loop with real parts: Debian's registry notifies Tidegate of a push made with
skopeo, and container steps run exactly the pushed image, by digest, under Podman."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import bcrypt
import httpx2
import pytest

from tests.parts import ImageBuilder, Podman, Registry, digest_of, push, scope_label
from tests.support import ServeProcess, Server, eventually, free_port, serve_env, write_workflow
from tidegate.config import Settings
from tidegate.events.sources.dockerhub import dockerhub_payload


@pytest.fixture
def loop(
    server_factory: Callable[..., Server], podman: Podman, tmp_path: Path
) -> Iterator[tuple[Server, Registry, ImageBuilder]]:
    server = server_factory(docker_host=podman.url, default_network="none")
    registry = Registry(tmp_path / "registry", notify_url=server.hooks["registry"]).start()
    try:
        yield server, registry, ImageBuilder(tmp_path / "images")
    finally:
        registry.stop()
        leftovers = podman.containers(scope_label(server.settings))
        subprocess.run(["podman", "rm", "-f", *leftovers], capture_output=True, check=False)
        assert leftovers == [], f"containers left behind: {leftovers}"


def runs_for(server: Server, count: int) -> list[dict[str, object]]:
    def listed() -> list[dict[str, object]] | None:
        with server.client() as c:
            runs = c.get("/api/v1/runs").json()
        return runs if len(runs) >= count else None

    return eventually(listed, timeout=60)


SELFTEST = """
name: selftest
on: {image: {repositories: ["demo/*"], tags: ["v*"]}}
jobs:
  smoke:
    steps:
      - name: self-test
        container:
          command: ["/bin/selftest"]
        timeout: 60s
"""


def test_push_notifies_and_the_pushed_image_runs_by_digest(
    loop: tuple[Server, Registry, ImageBuilder],
) -> None:
    server, registry, images = loop
    write_workflow(server.settings, "selftest", SELFTEST)
    good = images.build(
        "good", files={"/bin/selftest": "#!/bin/sh\necho selftest passed on $(cat /etc/hostname)\n"}
    )
    digest = push(good, f"{registry.host}/demo/app:v1")
    (run,) = runs_for(server, 1)
    final = server.wait_run(str(run["id"]), timeout=120)
    assert final["status"] == "succeeded", server.logs(final["id"])
    assert final["digest"] == digest
    assert final["image"] == f"{registry.host}/demo/app@{digest}"
    assert "selftest passed" in server.logs(final["id"])
    # The registry's other notifications (the blob pushes, Podman's pull) made no runs.
    assert len(runs_for(server, 1)) == 1

    bad = images.build("bad", files={"/bin/selftest": "#!/bin/sh\necho broken >&2\nexit 7\n"})
    push(bad, f"{registry.host}/demo/app:v2")
    runs = runs_for(server, 2)
    failed = server.wait_run(str(runs[0]["id"]), timeout=120)
    assert failed["status"] == "failed"
    (step,) = [s for s in failed["steps"] if s["job_id"] == "smoke"]
    assert step["exit_code"] == 7
    assert "broken" in server.logs(failed["id"])


def test_service_reached_by_a_step(loop: tuple[Server, Registry, ImageBuilder]) -> None:
    server, registry, images = loop
    port = free_port()
    write_workflow(
        server.settings,
        "svc",
        f"""
name: svc
on: {{image: {{repositories: ["demo/*"]}}}}
jobs:
  integration:
    services:
      web:
        image: ${{{{ event.image }}}}
        entrypoint: ["/bin/httpd", "-f", "-p", "127.0.0.1:{port}", "-h", "/www"]
        network: host
        ready: {{port: {port}, timeout: 30s}}
    steps:
      - container:
          network: host
          command: ["/bin/sh", "-c", "wget -q -O - http://127.0.0.1:{port}/index.html"]
""",
    )
    image = images.build("web", files={"/www/index.html": "hello from the service\n"})
    push(image, f"{registry.host}/demo/web:v1")
    (run,) = runs_for(server, 1)
    final = server.wait_run(str(run["id"]), timeout=120)
    assert final["status"] == "succeeded", server.logs(final["id"])
    assert "hello from the service" in server.logs(final["id"])


def test_a_later_push_does_not_change_a_waiting_run(
    loop: tuple[Server, Registry, ImageBuilder],
) -> None:
    server, registry, images = loop
    write_workflow(
        server.settings,
        "gate",
        """
name: gate
on: {image: {repositories: ["demo/*"]}}
jobs:
  approve:
    approval: {approvers: [admin]}
  ship:
    needs: [approve]
    steps:
      - container:
          command: ["/bin/sh", "-c", "cat /version; echo digest=$TIDEGATE_DIGEST"]
          env: {TIDEGATE_DIGEST: "sha256:not-the-one"}  # cannot make a step lie
""",
    )
    first = push(images.build("one", files={"/version": "one\n"}), f"{registry.host}/demo/app:v1")
    (run,) = runs_for(server, 1)
    run_id = str(run["id"])
    eventually(lambda: server.run(run_id)["status"] == "waiting", timeout=60)
    second = push(images.build("two", files={"/version": "two\n"}), f"{registry.host}/demo/app:v1")
    assert second != first
    runs_for(server, 2)
    (approval,) = server.run(run_id)["approvals"]
    with server.client() as c:
        assert c.post(f"/api/v1/approvals/{approval['id']}/approve", json={}).status_code == 200
    final = server.wait_run(run_id, timeout=120)
    assert final["status"] == "succeeded", server.logs(run_id)
    assert final["digest"] == first
    logs = server.logs(run_id)
    assert "one" in logs and f"digest={first}" in logs and "two" not in logs
    # The second push's own run waits for its approval; cancel it so nothing lingers.
    second_run = next(r for r in runs_for(server, 2) if r["id"] != run_id)
    with server.client() as c:
        c.post(f"/api/v1/runs/{second_run['id']}/cancel")
    server.wait_run(str(second_run["id"]), timeout=60)


def test_kill_during_a_container_step_leaves_nothing_behind(
    podman: Podman, tmp_path: Path, database_url: str
) -> None:
    env = serve_env(tmp_path, database_url, TIDEGATE_DOCKER_HOST=podman.url)
    (tmp_path / "workflows" / "slow.yaml").write_text(
        """
name: slow
on: {image: {repositories: ["demo/*"]}}
jobs:
  long:
    steps:
      - container:
          command: ["/bin/sh", "-c", "echo started; sleep 6; echo finished"]
        timeout: 60s
"""
    )
    serve = ServeProcess(env=env, cwd=tmp_path, url=env["TIDEGATE_URL"])
    registry = Registry(tmp_path / "registry")
    try:
        serve.start()
        registry.notify_url = serve.hooks["registry"]
        registry.start()
        push(ImageBuilder(tmp_path / "images").build("slow"), f"{registry.host}/demo/slow:v1")
        run_id = eventually(lambda: _first_run(serve), timeout=60)
        eventually(lambda: podman.containers(f"tidegate.run={run_id}"), timeout=60)
        serve.kill9()
        assert podman.containers(f"tidegate.run={run_id}")  # the orphan still runs
        serve.start()
        run = serve.wait_run(run_id, timeout=120)
        assert run["status"] == "succeeded", run
        scope = scope_label(Settings(data_dir=tmp_path / "data", database_url=database_url))
        eventually(lambda: podman.containers(scope) == [], timeout=30)
    finally:
        serve.stop()
        registry.stop()


def _first_run(serve: ServeProcess) -> str | None:
    with serve.client() as c:
        runs = c.get("/api/v1/runs").json()
    return str(runs[0]["id"]) if runs else None


def test_private_image_is_pulled_with_tidegates_credentials(
    server_factory: Callable[..., Server], podman: Podman, tmp_path: Path
) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("ci:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt()).decode() + "\n")
    registry = Registry(tmp_path / "registry", htpasswd=htpasswd).start()
    image = ""
    try:
        digest = push(
            ImageBuilder(tmp_path / "images").build("private", files={"/secret": "private\n"}),
            f"{registry.host}/team/private:v1",
            creds="ci:s3cret",
        )
        image = f"{registry.host}/team/private@{digest}"
        # Not in Podman's store: the pull must happen, with or without credentials.
        subprocess.run(["podman", "rmi", "-f", image], capture_output=True, check=False)
        workflow = f"""
name: private
on_unresolved: tag
on: {{image: {{repositories: ["acme/*"]}}}}
jobs:
  a:
    steps:
      - container: {{image: "{image}", command: ["/bin/cat", "/secret"]}}
"""
        without = server_factory(docker_host=podman.url)
        write_workflow(without.settings, "private", workflow)
        (run_id,) = without.post_hook("dockerhub", dockerhub_payload("acme/web:v1")).json()["runs"]
        refused = without.wait_run(run_id, timeout=120)
        assert refused["status"] == "failed"
        said = without.logs(run_id).lower()
        assert "unauthorized" in said or "authentication required" in said, said
        without.stop()

        second = tmp_path / "second"
        (second / "workflows").mkdir(parents=True)
        with_login = server_factory(
            docker_host=podman.url,
            registry_logins={registry.host: "ci:s3cret"},
            data_dir=second / "data",
            workflows=second / "workflows",
        )
        write_workflow(with_login.settings, "private", workflow)
        (run_id,) = with_login.post_hook("dockerhub", dockerhub_payload("acme/web:v2")).json()[
            "runs"
        ]
        pulled = with_login.wait_run(run_id, timeout=120)
        assert pulled["status"] == "succeeded", with_login.logs(run_id)
        assert "private" in with_login.logs(run_id)
        assert "s3cret" not in with_login.logs(run_id)
    finally:
        registry.stop()
        if image:
            subprocess.run(["podman", "rmi", "-f", image], capture_output=True, check=False)


def test_timeout_cancel_and_an_unready_service_clean_up(
    loop: tuple[Server, Registry, ImageBuilder],
) -> None:
    server, registry, images = loop
    port = free_port()
    write_workflow(
        server.settings,
        "edges",
        f"""
name: edges
on: {{image: {{repositories: ["demo/*"]}}}}
jobs:
  slow:
    steps:
      - container: {{command: ["/bin/sleep", "60"]}}
        timeout: 2s
  hanging:
    steps:
      - container: {{command: ["/bin/sh", "-c", "echo up; sleep 60"]}}
  deaf:
    services:
      mute:
        image: ${{{{ event.image }}}}
        entrypoint: ["/bin/sleep", "60"]
        network: host
        ready: {{port: {port}, timeout: 3s}}
    steps:
      - run: echo never
""",
    )
    push(images.build("edges"), f"{registry.host}/demo/edges:v1")
    (run,) = runs_for(server, 1)
    run_id = str(run["id"])

    def hanging_started() -> bool:
        return "up" in server.logs(run_id)

    eventually(hanging_started, timeout=60)
    eventually(
        lambda: (
            {j["job_id"]: j["status"] for j in server.run(run_id)["jobs"]}.get("deaf") == "failed"
        ),
        timeout=60,
    )
    with server.client() as c:
        assert c.post(f"/api/v1/runs/{run_id}/cancel").status_code == 202
    final = server.wait_run(run_id, timeout=60)
    assert final["status"] == "cancelled"
    steps = {(s["job_id"], s["index"]): s for s in final["steps"]}
    assert steps[("slow", 0)]["status"] == "timed_out"
    assert steps[("hanging", 0)]["status"] == "cancelled"
    services = steps[("deaf", -1)]
    assert services["status"] == "failed"
    assert "mute" in services["error"] and str(port) in services["error"]
    assert steps.get(("deaf", 0)) is None or steps[("deaf", 0)]["status"] != "succeeded"


# cgroup v2 names, then v1: whichever this machine has.
LIMIT_FILES = " ".join(
    [
        "/sys/fs/cgroup/pids.max",
        "/sys/fs/cgroup/pids/pids.max",
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
)


def test_default_limits_apply_to_steps_that_set_none(
    server_factory: Callable[..., Server], podman: Podman, tmp_path: Path
) -> None:
    server = server_factory(docker_host=podman.url, default_pids=64, default_memory="64m")
    registry = Registry(tmp_path / "registry").start()
    try:
        digest = push(
            ImageBuilder(tmp_path / "images").build("limits"), f"{registry.host}/demo/l:v1"
        )
        image = f"{registry.host}/demo/l@{digest}"
        write_workflow(
            server.settings,
            "limits",
            f"""
name: limits
on_unresolved: tag
on: {{image: {{repositories: ["acme/*"]}}}}
jobs:
  a:
    steps:
      - container:
          image: "{image}"
          command: ["/bin/sh", "-c", "cat {LIMIT_FILES} 2>/dev/null; true"]
""",
        )
        (run_id,) = server.post_hook("dockerhub", dockerhub_payload("acme/web:v1")).json()["runs"]
        run = server.wait_run(run_id, timeout=120)
    finally:
        registry.stop()
    assert run["status"] == "succeeded", server.logs(run_id)
    logs = server.logs(run_id)
    assert ": 64\n" in logs or logs.rstrip().endswith(": 64") or " stdout: 64" in logs
    assert str(64 * 1024 * 1024) in logs


def test_approve_then_promote_puts_the_pushed_digest_under_production(
    loop: tuple[Server, Registry, ImageBuilder],
) -> None:
    server, registry, images = loop
    write_workflow(
        server.settings,
        "release",
        """
name: release
on: {image: {repositories: ["demo/*"], tags: ["v*"]}}
jobs:
  smoke:
    steps:
      - container: {command: ["/bin/true"]}
  approve:
    needs: [smoke]
    approval: {approvers: [admin]}
  promote:
    needs: [approve]
    steps:
      - promote:
          to: ["demo/app:production", "demo/mirror:${{ event.tag }}"]
          if_exists: overwrite
""",
    )
    digest = push(images.build("release"), f"{registry.host}/demo/app:v3")
    (run,) = runs_for(server, 1)
    run_id = str(run["id"])
    eventually(lambda: server.run(run_id)["status"] == "waiting", timeout=60)
    (approval,) = server.run(run_id)["approvals"]
    with server.client() as c:
        c.post(f"/api/v1/approvals/{approval['id']}/approve", json={"comment": "ship"})
    final = server.wait_run(run_id, timeout=120)
    assert final["status"] == "succeeded", server.logs(run_id)
    promoted = {p["destination"]: p for p in final["promotions"]}
    assert set(promoted) == {
        f"{registry.host}/demo/app:production",
        f"{registry.host}/demo/mirror:v3",
    }
    assert all(p["digest"] == digest and p["approved_by"] == ["admin"] for p in promoted.values())
    for reference in promoted:
        assert digest_of(reference) == digest

    # A re-run promotes again and changes nothing: the tags already name the digest.
    with server.client() as c:
        (again,) = c.post(f"/api/v1/runs/{run_id}/rerun").json()["runs"]
    eventually(lambda: server.run(again)["status"] == "waiting", timeout=60)
    (approval,) = server.run(again)["approvals"]
    with server.client() as c:
        c.post(f"/api/v1/approvals/{approval['id']}/approve", json={})
    repeat = server.wait_run(again, timeout=120)
    assert repeat["status"] == "succeeded"
    assert {p["outcome"] for p in repeat["promotions"]} == {"unchanged"}

    # `if_exists: skip` leaves production to another digest; `fail` refuses to move it.
    write_workflow(
        server.settings,
        "release",
        """
name: release
on: {image: {repositories: ["demo/*"], tags: ["v*"]}}
jobs:
  promote:
    steps:
      - promote: {to: ["demo/app:production"], if_exists: skip}
      - promote: {to: ["demo/app:production"], if_exists: fail}
""",
    )
    other = push(images.build("other", files={"/other": "x\n"}), f"{registry.host}/demo/app:v4")
    newest = next(r for r in runs_for(server, 3) if r["id"] not in (run_id, again))
    refused = server.wait_run(str(newest["id"]), timeout=120)
    assert refused["status"] == "failed"
    skipped, step = [s for s in refused["steps"] if s["job_id"] == "promote"]
    assert skipped["status"] == "succeeded"
    assert [p["outcome"] for p in refused["promotions"]] == ["skipped"]
    assert "already exists" in step["error"] and "if_exists is fail" in step["error"]
    assert digest_of(f"{registry.host}/demo/app:production") == digest != other

    # /metrics counts the promotions by outcome: 2 promoted, 2 unchanged, 1 skipped.
    metrics = httpx2.get(f"{server.url}/metrics").text
    for outcome, count in (("promoted", 2), ("unchanged", 2), ("skipped", 1)):
        assert f'tidegate_promotions_total{{outcome="{outcome}"}} {count}.0' in metrics
