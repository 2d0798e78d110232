"""Service containers against real Podman: started, ready-checked (image HEALTHCHECK, TCP
port, command), reached by a step over host networking, and removed.

The parts (the session's Podman socket, an htpasswd registry, images pushed by digest)
are those of test_executor_docker; the registry starts afresh for this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.integration.test_executor_docker import (
    AUTH,
    PASSWORD,
    USER,
    ContainerParts,
    container_parts,
)
from tests.parts import Podman, push
from tests.support import free_port
from tidegate.executors.base import LogLine
from tidegate.executors.docker import ContainerRun, DockerExecutor, ServiceFailed, ServiceHandle
from tidegate.executors.docker.readiness import healthcheck_argv

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def parts(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerParts]:
    with container_parts(podman, tmp_path_factory.mktemp("services")) as started:
        yield started


@pytest.fixture(scope="module")
def busybox(parts: ContainerParts) -> str:
    return parts.image("svc-busybox", files={"/www/index.html": "hello from the service\n"})


@pytest.fixture
def labels() -> dict[str, str]:
    return {"tidegate.run": f"test-{secrets.token_hex(6)}", "tidegate.job": "integration"}


@pytest.fixture(autouse=True)
def nothing_left_behind(request: pytest.FixtureRequest, labels: dict[str, str]) -> Iterator[None]:
    yield
    if "parts" in request.fixturenames:
        assert request.getfixturevalue("parts").containers(labels) == []


@pytest.fixture
async def executor(parts: ContainerParts) -> AsyncIterator[DockerExecutor]:
    ex = DockerExecutor(parts.podman.url, kill_grace=1.0, scope=parts.scope)
    try:
        yield ex
    finally:
        await ex.close()


def healthcheck_image(parts: ContainerParts, name: str, test: str, cmd: list[str]) -> str:
    """An image whose config has a Docker HEALTHCHECK (`CMD-SHELL test`).

    umoci writes OCI configs, which have no healthcheck field: convert to Docker's
    format with skopeo, add the healthcheck to the config blob, and push that.
    """
    source = parts.builder.build(name, cmd=cmd, files={"/nonce": parts.nonce})
    layout = parts.builder.workdir / "v2s2" / name
    layout.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--format", "v2s2", source, f"dir:{layout}"],
        check=True,
        capture_output=True,
    )
    manifest = json.loads((layout / "manifest.json").read_text())
    old = layout / manifest["config"]["digest"].split(":")[1]
    config = json.loads(old.read_text())
    config["config"]["Healthcheck"] = {
        "Test": ["CMD-SHELL", test],
        "Interval": 200_000_000,
        "Retries": 3,
    }
    blob = json.dumps(config).encode()
    digest = hashlib.sha256(blob).hexdigest()
    old.unlink()
    (layout / digest).write_bytes(blob)
    manifest["config"].update(digest=f"sha256:{digest}", size=len(blob))
    (layout / "manifest.json").write_text(json.dumps(manifest))
    repository = f"{parts.registry.host}/tidegate-test/{name}"
    pushed = push(f"dir:{layout}", f"{repository}:v1", creds=f"{USER}:{PASSWORD}")
    reference = f"{repository}@{pushed}"
    parts.pushed.append(reference)
    return reference


async def removed(executor: DockerExecutor, handle: ServiceHandle, parts: ContainerParts) -> None:
    await executor.stop_service(handle)
    assert parts.podman.containers(f"tidegate.run={handle.labels['tidegate.run']}") == []
    await executor.stop_service(handle)  # idempotent


async def test_httpd_becomes_ready_by_tcp_and_a_step_reaches_it(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    port = free_port()
    service = ContainerRun(
        busybox, command=["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"], network="host"
    )
    handle = await executor.start_service("web", service, labels, auth=AUTH)
    try:
        assert handle.labels["tidegate.service"] == "web"
        assert handle.labels["tidegate.managed"] == "1"
        await executor.wait_ready(handle, tcp_port=port, timeout=20)
        lines: list[LogLine] = []
        step = ContainerRun(
            busybox,
            command=["wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/index.html"],
            network="host",
            labels=labels,
        )
        outcome = await executor.run_container(step, lines.append, asyncio.Event(), AUTH)
        assert outcome.exit_code == 0, lines
        assert [(line.stream, line.text) for line in lines] == [
            ("stdout", "hello from the service")
        ]
    finally:
        await removed(executor, handle, parts)


async def test_a_service_that_never_listens_fails_clearly(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    port = free_port()
    script = "echo starting up; echo still booting >&2; sleep 60"
    service = ContainerRun(busybox, command=["sh", "-c", script], network="host")
    handle = await executor.start_service("db", service, labels, auth=AUTH)
    started = time.monotonic()
    try:
        with pytest.raises(ServiceFailed) as caught:
            await executor.wait_ready(handle, tcp_port=port, timeout=2)
        assert 2 <= time.monotonic() - started < 5
    finally:
        await removed(executor, handle, parts)
    message = caught.value.message
    assert message.startswith(
        f"service 'db' did not become ready within 2s: waited for TCP port {port} on 127.0.0.1"
    )
    assert "starting up" in message and "still booting" in message  # its last output
    assert caught.value.status == "failed"  # a StepFailed: the user's failure, not ours


async def test_ready_when_a_command_succeeds(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    script = "sleep 1; echo > /tmp/ready; sleep 60"
    service = ContainerRun(busybox, command=["sh", "-c", script])  # network none
    handle = await executor.start_service("queue", service, labels, auth=AUTH)
    started = time.monotonic()
    try:
        await executor.wait_ready(handle, command=["sh", "-c", "test -e /tmp/ready"], timeout=15)
        assert time.monotonic() - started >= 0.9
    finally:
        await removed(executor, handle, parts)


async def test_the_images_healthcheck_comes_first(
    executor: DockerExecutor, parts: ContainerParts, labels: dict[str, str]
) -> None:
    image = healthcheck_image(
        parts, "svc-healthy", "test -e /tmp/ok", ["sh", "-c", "sleep 1; echo > /tmp/ok; sleep 60"]
    )
    handle = await executor.start_service("cache", ContainerRun(image), labels, auth=AUTH)
    started = time.monotonic()
    try:
        # Nothing listens on that port: only the HEALTHCHECK can make it ready. (Podman
        # without systemd never runs it; we run its test ourselves.)
        await executor.wait_ready(handle, tcp_port=free_port(), timeout=15)
        assert time.monotonic() - started >= 0.9
    finally:
        await removed(executor, handle, parts)
    never = ContainerRun(image, command=["sleep", "60"])  # /tmp/ok never appears
    handle = await executor.start_service("cache", never, labels, auth=AUTH)
    try:
        with pytest.raises(ServiceFailed, match="waited for its image's HEALTHCHECK to pass"):
            await executor.wait_ready(handle, timeout=1.5)
    finally:
        await removed(executor, handle, parts)


async def test_a_service_that_exits_fails_with_its_output(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    script = "echo fatal: bad config >&2; exit 3"
    service = ContainerRun(busybox, command=["sh", "-c", script])
    handle = await executor.start_service("db", service, labels, auth=AUTH)
    started = time.monotonic()
    try:
        with pytest.raises(ServiceFailed) as caught:
            await executor.wait_ready(handle, command=["true"], timeout=30)
        assert time.monotonic() - started < 10
    finally:
        await removed(executor, handle, parts)
    assert "service 'db' exited with code 3 before it became ready" in caught.value.message
    assert "fatal: bad config" in caught.value.message


async def test_a_service_image_that_cannot_be_pulled(
    executor: DockerExecutor, parts: ContainerParts, labels: dict[str, str]
) -> None:
    missing = f"{parts.registry.host}/tidegate-test/no-such-service:v1"
    with pytest.raises(ServiceFailed, match="service 'db': cannot pull image"):
        await executor.start_service("db", ContainerRun(missing), labels, auth=AUTH)


@pytest.mark.parametrize(
    ("healthcheck", "argv"),
    [
        (None, None),
        ({}, None),
        ({"Test": ["NONE"]}, None),
        ({"Test": ["CMD-SHELL", "curl -f localhost"]}, ["/bin/sh", "-c", "curl -f localhost"]),
        ({"Test": ["CMD", "pg_isready", "-U", "x"]}, ["pg_isready", "-U", "x"]),
    ],
)
def test_healthcheck_commands(
    healthcheck: dict[str, object] | None, argv: list[str] | None
) -> None:
    assert healthcheck_argv(healthcheck) == argv
