"""Real parts on loopback for the container tests: Podman's Docker-compatible socket,
Debian's `docker-registry`, and images built without a daemon (umoci + busybox-static)
and pushed with skopeo.

Test registries listen on fixed ports (TEST_REGISTRY_PORTS) because Podman must be told,
in /etc/containers/registries.conf.d, which registries speak plain HTTP; `.ci/run`
writes that file and `ensure_containers_config` checks it.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

TEST_REGISTRY_PORTS = (5901, 5902, 5903, 5904)
REGISTRIES_CONF = Path("/etc/containers/registries.conf.d/tidegate-test.conf")
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "echo", "true", "false", "sleep", "cat", "env", "httpd", "nc", "wget", "ls", "id")


def missing_tools() -> list[str]:
    return [t for t in ("podman", "skopeo", "umoci", "docker-registry") if not shutil.which(t)] + (
        [] if BUSYBOX.exists() else ["busybox-static"]
    )


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not come up in {timeout}s")


@dataclass
class Podman:
    """`podman system service` on a unix socket: the Docker Engine API."""

    socket_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> Podman:
        log = open(self.socket_path.with_suffix(".log"), "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["podman", "system", "service", "--time=0", self.url],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        _wait(self.socket_path.exists, 30, "podman system service")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def containers(self, label: str) -> list[str]:
        """Ids of containers (any state) carrying `label` (key or key=value)."""
        out = subprocess.run(
            ["podman", "ps", "-a", "-q", "--filter", f"label={label}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.split()


@dataclass
class Registry:
    """Debian's `docker-registry` (Distribution 2.8) on a fixed loopback port."""

    port: int
    root: Path
    notify_url: str = ""
    htpasswd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def config(self) -> str:
        lines = [
            "version: 0.1",
            "log: {level: info, formatter: text}",
            "storage:",
            f"  filesystem: {{rootdirectory: {self.root / 'data'}}}",
            "  delete: {enabled: true}",
            "http:",
            f"  addr: {self.host}",
        ]
        if self.htpasswd:
            lines += ["auth:", f"  htpasswd: {{realm: tidegate-test, path: {self.htpasswd}}}"]
        if self.notify_url:
            lines += [
                "notifications:",
                "  endpoints:",
                "    - name: tidegate",
                f"      url: {self.notify_url}",
                "      timeout: 3s",
                "      threshold: 3",
                "      backoff: 1s",
            ]
        return "\n".join(lines) + "\n"

    def start(self) -> Registry:
        assert not _port_open(self.port), f"port {self.port} is taken"
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(self.config())
        self.log_path = self.root / "registry.log"
        log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        _wait(lambda: _port_open(self.port), 30, f"docker-registry on {self.host}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)


@dataclass
class ImageBuilder:
    """OCI images from busybox-static, built with umoci: no daemon, no network."""

    workdir: Path

    def build(
        self,
        name: str,
        *,
        entrypoint: list[str] | None = None,
        cmd: list[str] | None = None,
        files: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> str:
        """Build and return an `oci:LAYOUT:TAG` reference for skopeo."""
        layout = self.workdir / "layouts" / name
        tag = "latest"
        if layout.exists():
            shutil.rmtree(layout)
        layout.parent.mkdir(parents=True, exist_ok=True)
        run = lambda *args: subprocess.run(args, check=True, capture_output=True)  # noqa: E731
        run("umoci", "init", "--layout", str(layout))
        run("umoci", "new", "--image", f"{layout}:{tag}")
        bundle = self.workdir / "bundles" / name
        if bundle.exists():
            shutil.rmtree(bundle)
        bundle.parent.mkdir(parents=True, exist_ok=True)
        run("umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle))
        rootfs = bundle / "rootfs"
        (rootfs / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
        for applet in APPLETS:
            (rootfs / "bin" / applet).symlink_to("busybox")
        (rootfs / "tmp").mkdir(exist_ok=True)
        for path, content in (files or {}).items():
            target = rootfs / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            target.chmod(0o755)
        run("umoci", "repack", "--image", f"{layout}:{tag}", str(bundle))
        config = ["umoci", "config", "--image", f"{layout}:{tag}"]
        for arg in entrypoint or []:
            config += ["--config.entrypoint", arg]
        for arg in cmd or []:
            config += ["--config.cmd", arg]
        for key, value in (env or {}).items():
            config += ["--config.env", f"{key}={value}"]
        config += ["--config.env", "PATH=/bin"]
        run(*config)
        return f"oci:{layout}:{tag}"


def push(source: str, destination: str, *, creds: str | None = None) -> str:
    """skopeo copy to `host:port/repo:tag` over plain HTTP; returns the pushed digest."""
    digest_file = Path(source.split(":")[1]).parent / f"digest-{time.monotonic_ns()}"
    command = [
        "skopeo",
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        "--digestfile",
        str(digest_file),
    ]
    if creds:
        command += ["--dest-creds", creds]
    subprocess.run([*command, source, f"docker://{destination}"], check=True, capture_output=True)
    return digest_file.read_text().strip()


def registries_conf() -> str:
    """The registries.conf.d entry that lets Podman pull from the test registries."""
    return "".join(
        f'[[registry]]\nlocation = "127.0.0.1:{port}"\ninsecure = true\n\n'
        for port in TEST_REGISTRY_PORTS
    )


def ensure_containers_config() -> list[str]:
    """What is missing from /etc/containers for these tests (empty when ready)."""
    problems = []
    if not REGISTRIES_CONF.exists() or REGISTRIES_CONF.read_text() != registries_conf():
        problems.append(f"{REGISTRIES_CONF} does not mark the test registries insecure")
    conf = Path("/etc/containers/containers.conf")
    text = conf.read_text() if conf.exists() else ""
    for needle in ('runtime = "runc"', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"'):
        if needle not in text:
            problems.append(f"{conf} lacks {needle}")
    return problems


def registry_catalog_tags(registry: Registry, repository: str) -> list[str]:
    out = subprocess.run(
        ["skopeo", "list-tags", "--tls-verify=false", f"docker://{registry.host}/{repository}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return list(json.loads(out)["Tags"])


def stopped(parts: Iterator[object]) -> None:
    for part in parts:
        part.stop()  # type: ignore[attr-defined]
