"""The docker executor against real Podman (its Docker-compatible socket) and a real
registry with htpasswd auth: images built with umoci, pushed with skopeo, pulled by digest.

Other tests may run containers on the same Podman at the same time, and servers they
start reap leftovers. So the executor here has a scope of its own (`tidegate.scope`: a
reap elsewhere leaves its containers alone, and its reap leaves theirs), every container
carries a `tidegate.run` label unique to its test, and "nothing is left behind" is
checked on that label (`tidegate.managed=1` is checked on the containers themselves).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from tests.parts import ImageBuilder, Podman, Registry, push
from tidegate.executors.base import LogLine, Outcome
from tidegate.executors.docker import ContainerEngineError, ContainerRun, DockerExecutor

pytestmark = pytest.mark.anyio

USER, PASSWORD = "alice", "tide-secret"
AUTH = {"username": USER, "password": PASSWORD}
KILL_GRACE = 1.0


@dataclass
class ContainerParts:
    """Podman's socket and an htpasswd registry, plus the images pushed to it."""

    podman: Podman
    registry: Registry
    builder: ImageBuilder
    nonce: str = field(default_factory=lambda: secrets.token_hex(6))
    pushed: list[str] = field(default_factory=list)

    def image(self, name: str, **build: Any) -> str:
        """Build a busybox image, push it, and return `host/repo@digest`.

        A nonce file makes every test session's images new to Podman, so pulls happen.
        """
        files = {"/nonce": self.nonce, **build.pop("files", {})}
        source = self.builder.build(name, files=files, **build)
        repository = f"{self.registry.host}/tidegate-test/{name}"
        digest = push(source, f"{repository}:v1", creds=f"{USER}:{PASSWORD}")
        reference = f"{repository}@{digest}"
        self.pushed.append(reference)
        return reference

    @property
    def scope(self) -> str:
        return f"test-{self.nonce}"

    def containers(self, labels: dict[str, str]) -> list[str]:
        return self.podman.containers(f"tidegate.run={labels['tidegate.run']}")


@contextmanager
def container_parts(podman: Podman, root: Path) -> Iterator[ContainerParts]:
    """A registry with htpasswd (bcrypt) auth, beside the session's Podman."""
    htpasswd = root / "htpasswd"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    registry = Registry(root / "registry", htpasswd=htpasswd)
    parts = ContainerParts(podman, registry, ImageBuilder(root / "images"))
    try:
        registry.start()
        yield parts
    finally:
        registry.stop()
        if parts.pushed:  # what the tests pulled into Podman's (shared) storage
            subprocess.run(["podman", "rmi", "--force", *parts.pushed], capture_output=True)


@pytest.fixture(scope="module")
def parts(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerParts]:
    with container_parts(podman, tmp_path_factory.mktemp("docker")) as started:
        yield started


@pytest.fixture(scope="module")
def busybox(parts: ContainerParts) -> str:
    return parts.image("busybox", cmd=["sh", "-c", "echo default command"])


@pytest.fixture
def labels() -> dict[str, str]:
    return {
        "tidegate.run": f"test-{secrets.token_hex(6)}",
        "tidegate.job": "j",
        "tidegate.step": "0",
    }


@pytest.fixture(autouse=True)
def nothing_left_behind(request: pytest.FixtureRequest, labels: dict[str, str]) -> Iterator[None]:
    yield
    if "parts" in request.fixturenames:
        assert request.getfixturevalue("parts").containers(labels) == []


@pytest.fixture
async def executor(parts: ContainerParts) -> AsyncIterator[DockerExecutor]:
    ex = DockerExecutor(parts.podman.url, kill_grace=KILL_GRACE, scope=parts.scope)
    try:
        yield ex
    finally:
        await ex.close()


async def run(
    executor: DockerExecutor,
    container: ContainerRun,
    *,
    parts: ContainerParts,
    cancel: asyncio.Event | None = None,
    auth: dict[str, str] | None = AUTH,
    on_line: Callable[[LogLine], Any] | None = None,
) -> tuple[Outcome, list[LogLine]]:
    """Run, collect the lines, and check the container is gone when run_container returns."""
    lines: list[LogLine] = []

    async def collect(line: LogLine) -> None:
        lines.append(line)
        if on_line is not None:
            result = on_line(line)
            if asyncio.iscoroutine(result):
                await result

    outcome = await executor.run_container(container, collect, cancel or asyncio.Event(), auth)
    assert parts.containers(dict(container.labels)) == []
    return outcome, lines


def texts(lines: list[LogLine]) -> list[tuple[str, str]]:
    return [(line.stream, line.text) for line in lines]


async def test_exit_codes(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    ok, lines = await run(executor, ContainerRun(busybox, labels=labels), parts=parts)
    assert ok == Outcome(exit_code=0)
    assert texts(lines) == [("stdout", "default command")]  # the image's CMD
    failed, _ = await run(
        executor, ContainerRun(busybox, command=["sh", "-c", "exit 3"], labels=labels), parts=parts
    )
    assert failed == Outcome(exit_code=3)


async def test_output_streams_in_order_as_it_happens(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    # stdout and stderr are two pipes: lines written microseconds apart on different
    # streams may swap (as on any engine), so the streams take turns with a pause.
    script = (
        "echo one; echo one-b; sleep 0.1; echo two >&2; sleep 0.1; echo three;"
        " sleep 0.4; echo four >&2; sleep 0.1; printf 'no newline'"
    )
    container = ContainerRun(busybox, command=["sh", "-c", script], labels=labels)
    outcome, lines = await run(executor, container, parts=parts)
    assert outcome.exit_code == 0
    assert texts(lines) == [
        ("stdout", "one"),
        ("stdout", "one-b"),
        ("stderr", "two"),
        ("stdout", "three"),
        ("stderr", "four"),
        ("stdout", "no newline"),
    ]
    assert all(a.ts <= b.ts for a, b in zip(lines, lines[1:], strict=False))
    assert lines[4].ts - lines[3].ts >= timedelta(seconds=0.3)  # stamped on arrival


async def test_many_lines_are_not_lost(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    script = 'i=0; while [ $i -lt 3000 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done'
    container = ContainerRun(busybox, command=["sh", "-c", script], labels=labels)
    outcome, lines = await run(executor, container, parts=parts)
    assert outcome.exit_code == 0
    assert [t for s, t in texts(lines) if s == "stdout"] == [f"out {i}" for i in range(3000)]
    assert [t for s, t in texts(lines) if s == "stderr"] == [f"err {i}" for i in range(3000)]


async def test_env_workdir_user_and_entrypoint(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    container = ContainerRun(
        busybox,
        entrypoint=["sh", "-c"],
        command=['echo "$GREETING"; pwd; id -u; id -g'],
        env={"GREETING": "hello  world"},
        workdir="/tmp",
        user="1000:1001",
        labels=labels,
    )
    outcome, lines = await run(executor, container, parts=parts)
    assert outcome.exit_code == 0
    assert [t for _, t in texts(lines)] == ["hello  world", "/tmp", "1000", "1001"]


async def test_network_none_has_only_loopback(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    # No network given: the executor's default, "none".
    container = ContainerRun(busybox, command=["ls", "/sys/class/net"], labels=labels)
    outcome, lines = await run(executor, container, parts=parts)
    assert outcome.exit_code == 0
    assert [t for _, t in texts(lines)] == ["lo"]


async def test_memory_pids_and_cpu_limits_reach_the_cgroup(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    # cgroup v2 files first, v1 after (this CI machine has v1).
    script = (
        "cat /sys/fs/cgroup/memory.max 2>/dev/null"
        " || cat /sys/fs/cgroup/memory/memory.limit_in_bytes;"
        " cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max;"
        " cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
    )
    container = ContainerRun(
        busybox, command=["sh", "-c", script], memory="64m", pids=50, cpus=0.5, labels=labels
    )
    outcome, lines = await run(executor, container, parts=parts)
    assert outcome.exit_code == 0, texts(lines)
    memory, pids, cpu = [t for _, t in texts(lines)]
    assert int(memory) == 64 * 1024 * 1024
    assert pids == "50"
    assert cpu.split()[0] == "50000"  # 0.5 of a 100 ms period


async def test_workspace_mount_is_read_write(
    executor: DockerExecutor,
    parts: ContainerParts,
    busybox: str,
    labels: dict[str, str],
    tmp_path: Path,
) -> None:
    (tmp_path / "in.txt").write_text("from the host\n")
    script = "cat /workspace/in.txt; echo from the container > /workspace/out.txt"
    container = ContainerRun(
        busybox, command=["sh", "-c", script], mounts={str(tmp_path): "/workspace"}, labels=labels
    )
    outcome, lines = await run(executor, container, parts=parts)
    assert outcome.exit_code == 0, texts(lines)
    assert texts(lines) == [("stdout", "from the host")]
    assert (tmp_path / "out.txt").read_text() == "from the container\n"


async def test_labels_are_on_the_container(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    seen: list[dict[str, str]] = []

    async def inspect_while_running(line: LogLine) -> None:
        out = await asyncio.to_thread(
            subprocess.run,
            [
                "podman",
                "ps",
                "-a",
                "--format",
                "json",
                "--filter",
                f"label=tidegate.run={labels['tidegate.run']}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        seen.extend(c["Labels"] for c in json.loads(out.stdout))

    container = ContainerRun(busybox, command=["sh", "-c", "echo up; sleep 0.5"], labels=labels)
    outcome, _ = await run(executor, container, parts=parts, on_line=inspect_while_running)
    assert outcome.exit_code == 0
    assert len(seen) == 1
    assert seen[0] == {**labels, "tidegate.managed": "1", "tidegate.scope": parts.scope}


async def test_timeout_stops_and_removes(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    container = ContainerRun(
        busybox, command=["sh", "-c", "echo started; sleep 60"], timeout=1.5, labels=labels
    )
    started = time.monotonic()
    outcome, lines = await run(executor, container, parts=parts)
    elapsed = time.monotonic() - started
    assert outcome.timed_out and not outcome.cancelled
    assert outcome.exit_code == 137  # sh as PID 1 ignores SIGTERM: killed after the grace
    assert texts(lines) == [("stdout", "started")]
    assert 1.5 <= elapsed < 1.5 + KILL_GRACE + 3


async def test_cancel_stops_and_removes(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    cancel = asyncio.Event()
    started = time.monotonic()
    container = ContainerRun(
        busybox, command=["sh", "-c", "echo started; sleep 60"], init=True, labels=labels
    )
    outcome, lines = await run(
        executor, container, parts=parts, cancel=cancel, on_line=lambda line: cancel.set()
    )
    assert outcome.cancelled and not outcome.timed_out
    assert outcome.exit_code == 143  # with an init, SIGTERM reaches sh: no need for SIGKILL
    assert texts(lines) == [("stdout", "started")]
    assert time.monotonic() - started < 5


async def test_a_cancelled_task_still_removes_its_container(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    # Not the cancel event: the task itself is cancelled (a server shutting down).
    running = asyncio.Event()
    container = ContainerRun(busybox, command=["sh", "-c", "echo up; sleep 60"], labels=labels)
    task = asyncio.create_task(
        executor.run_container(container, lambda line: running.set(), asyncio.Event(), AUTH)
    )
    await asyncio.wait_for(running.wait(), 20)
    assert len(parts.containers(labels)) == 1
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 5  # killed, not stopped gracefully
    assert parts.containers(labels) == []


async def test_cancelled_before_start_touches_nothing() -> None:
    executor = DockerExecutor("unix:///nonexistent/podman.sock")
    cancel = asyncio.Event()
    cancel.set()
    outcome = await executor.run_container(ContainerRun("busybox"), print, cancel)
    assert outcome == Outcome(exit_code=None, cancelled=True)
    await executor.close()


async def test_an_unreachable_engine_is_our_error() -> None:
    executor = DockerExecutor("unix:///nonexistent/podman.sock")
    with pytest.raises(ContainerEngineError, match="cannot connect"):
        await executor.run_container(ContainerRun("busybox"), print, asyncio.Event())
    await executor.close()


async def test_a_failing_line_sink_still_removes_the_container(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    def broken(line: LogLine) -> None:
        raise RuntimeError("sink broke")

    container = ContainerRun(busybox, command=["sh", "-c", "echo x; sleep 60"], labels=labels)
    with pytest.raises(RuntimeError, match="sink broke"):
        await executor.run_container(container, broken, asyncio.Event(), AUTH)
    assert parts.containers(labels) == []


async def test_pull_never_on_an_absent_image_fails_clearly(
    executor: DockerExecutor, parts: ContainerParts, labels: dict[str, str]
) -> None:
    absent = parts.image("absent")  # pushed, never pulled
    outcome, lines = await run(
        executor, ContainerRun(absent, pull="never", labels=labels), parts=parts
    )
    assert outcome == Outcome(exit_code=None)
    assert texts(lines) == [
        ("stderr", f"tidegate: image {absent} is not present and the pull policy is 'never'")
    ]


async def test_an_image_that_cannot_be_pulled_is_the_steps_failure(
    executor: DockerExecutor, parts: ContainerParts, labels: dict[str, str]
) -> None:
    missing = f"{parts.registry.host}/tidegate-test/no-such-image:v1"
    outcome, lines = await run(executor, ContainerRun(missing, labels=labels), parts=parts)
    assert outcome == Outcome(exit_code=None)
    [(stream, text)] = texts(lines)
    assert stream == "stderr"
    assert text.startswith(f"tidegate: cannot pull image {missing}: ")
    assert "manifest unknown" in text


async def test_a_command_that_cannot_start_exits_127(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    container = ContainerRun(busybox, command=["no-such-command"], labels=labels)
    outcome, lines = await run(executor, container, parts=parts)
    assert outcome == Outcome(exit_code=127)
    [(stream, text)] = texts(lines)
    assert stream == "stderr" and "no-such-command" in text


async def test_an_invalid_step_is_the_steps_failure(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    outcome, lines = await run(
        executor, ContainerRun(busybox, memory="lots", labels=labels), parts=parts
    )
    assert outcome == Outcome(exit_code=None)
    assert texts(lines) == [
        ("stderr", "tidegate: memory 'lots' is not a size such as 512m, 1g or 1048576")
    ]


async def test_a_private_image_pulls_with_auth_and_fails_without(
    executor: DockerExecutor, parts: ContainerParts, labels: dict[str, str]
) -> None:
    private = parts.image("private", cmd=["echo", "private image ran"])
    outcome, lines = await run(
        executor, ContainerRun(private, pull="always", labels=labels), parts=parts, auth=None
    )
    assert outcome == Outcome(exit_code=None)
    [(stream, text)] = texts(lines)
    assert stream == "stderr" and text.startswith(f"tidegate: cannot pull image {private}")
    assert "authentication required" in text or "unauthorized" in text
    # docker config.json's form: {"auth": base64("user:password")}
    encoded = {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    outcome, lines = await run(
        executor, ContainerRun(private, labels=labels), parts=parts, auth=encoded
    )
    assert outcome == Outcome(exit_code=0)
    assert texts(lines) == [("stdout", "private image ran")]


async def test_reap_removes_leftovers_of_its_scope_and_keeps_the_rest(
    executor: DockerExecutor, parts: ContainerParts, busybox: str, labels: dict[str, str]
) -> None:
    await run(executor, ContainerRun(busybox, labels=labels), parts=parts)  # pulls the image
    crashed = f"crashed-{secrets.token_hex(4)}"
    in_flight = f"alive-{secrets.token_hex(4)}"
    foreign = f"foreign-{secrets.token_hex(4)}"

    def leftover(run_id: str, scope: str | None) -> str:
        flags = ["--label=tidegate.managed=1", f"--label=tidegate.run={run_id}"]
        if scope:
            flags.append(f"--label=tidegate.scope={scope}")
        command = ["podman", "run", "-d", "--network=none", *flags, busybox, "sleep", "300"]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()

    dead_id = leftover(crashed, parts.scope)
    alive_id = leftover(in_flight, parts.scope)
    foreign_id = leftover(foreign, None)  # another installation's (no scope): not ours
    # A container this executor runs right now is never reaped, whatever `keep` says.
    cancel = asyncio.Event()
    mine = asyncio.create_task(
        executor.run_container(
            ContainerRun(busybox, command=["sh", "-c", "echo up; sleep 60"], labels=labels),
            lambda line: None,
            cancel,
            AUTH,
        )
    )
    try:
        deadline = time.monotonic() + 10
        while not parts.containers(labels) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        started = time.monotonic()
        removed = await executor.reap(lambda found: found.get("tidegate.run") == in_flight)
        assert time.monotonic() - started < 5  # killed, not stopped with a 10 s grace
        assert removed == [dead_id]
        assert parts.podman.containers(f"tidegate.run={crashed}") == []
        assert parts.podman.containers(f"tidegate.run={in_flight}") == [alive_id[:12]]
        assert parts.podman.containers(f"tidegate.run={foreign}") == [foreign_id[:12]]
        assert len(parts.containers(labels)) == 1
    finally:
        cancel.set()
        await mine
        subprocess.run(["podman", "rm", "-f", "-t", "0", alive_id, foreign_id], capture_output=True)
    assert mine.result().cancelled
