"""The whole loop with real parts: Debian's registry notifies Tidegate of a push made with
skopeo, and container steps run exactly the pushed image, by digest, under Podman."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.parts import ImageBuilder, Podman, Registry, push
from tests.support import Server, eventually, free_port, write_workflow

REGISTRY_PORT = 5901


@pytest.fixture
def loop(
    server_factory: Callable[..., Server], podman: Podman, tmp_path: Path
) -> Iterator[tuple[Server, Registry, ImageBuilder]]:
    server = server_factory(docker_host=podman.url, default_network="none")
    registry = Registry(
        port=REGISTRY_PORT, root=tmp_path / "registry", notify_url=server.hooks["registry"]
    ).start()
    try:
        yield server, registry, ImageBuilder(tmp_path / "images")
    finally:
        registry.stop()
        leftovers = podman.containers("tidegate.managed=1")
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
