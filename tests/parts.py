"""Real parts on loopback for the container tests: Podman's Docker-compatible socket,
Debian's `docker-registry`, and images built without a daemon (umoci + busybox-static)
and pushed with skopeo.

Every part listens on a port the OS hands out, so test processes can run side by side
(pytest-xdist). Podman pulls from the registries over plain HTTP because
/etc/containers/registries.conf.d marks 127.0.0.1 insecure on any port (a wildcard
entry, written by `scripts/containers-config`; `ensure_containers_config` checks it).
A part whose tools are missing fails its test, saying what to install (see
tests/machine.py), unless the run is a quick one (`scripts/test --quick`).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests import machine
from tests.support import free_port, require
from tidegate.config import Settings
from tidegate.executors.docker import installation_scope

try:  # optional: only the token-auth registry needs it (TokenIssuer.available())
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover
    x509 = None  # type: ignore[assignment]


def self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `host` (an IP address or a name) signed by its own key (its own
    trust anchor), and the key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "echo", "true", "false", "sleep", "cat", "env", "httpd", "nc", "wget", "ls", "id")


def require_tools(*tools: str) -> None:
    """Fail the test (skip it in a quick run) when a tool it needs is missing: commands,
    or /bin/busybox; all of the container tests' tools when none are named."""
    wanted = {t: machine.CONTAINER_TOOLS[t] for t in tools} if tools else machine.CONTAINER_TOOLS
    missing = machine.missing_packages(wanted)
    require(not missing, f"missing container tools ({machine.how_to_get(missing)})")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not come up in {timeout}s")


def _is_registry(port: int, tls: bool) -> bool:
    """Whether a Distribution registry answers on `port` (its /v2/ carries its API
    version header, whether or not it wants credentials)."""
    connection: http.client.HTTPConnection
    if tls:
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=insecure)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/v2/")
        answer = connection.getresponse()
        return answer.getheader("Docker-Distribution-Api-Version") is not None
    except OSError:
        return False
    finally:
        connection.close()


@dataclass
class Podman:
    """`podman system service` on a unix socket: the Docker Engine API."""

    socket_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> Podman:
        require_tools("podman", "runc", "conmon")
        problems = ensure_containers_config()
        require(not problems, "; ".join(problems) + f" ({machine.how_to_get([])})")
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

    def containers(self, *labels: str) -> list[str]:
        """Ids of containers (any state) carrying every one of `labels` (key or
        key=value). Podman's storage is the machine's: other test processes' containers
        are there too, so tests name labels of their own (a run, a scope)."""
        filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
        out = subprocess.run(
            ["podman", "ps", "-a", "-q", *filters], capture_output=True, text=True, check=True
        ).stdout
        return out.split()


def scope_label(settings: Settings) -> str:
    """The label on the containers of the server with `settings` (and on no one else's:
    its scope is named after its database), for `Podman.containers`."""
    return f"tidegate.scope={installation_scope(settings)}"


@dataclass
class Registry:
    """Debian's `docker-registry` (Distribution 2.8) on loopback: on a port the OS hands
    out (port 0), or on `port` (to start it again where it was)."""

    root: Path
    port: int = 0
    notify_url: str = ""
    htpasswd: Path | None = None
    tls: tuple[Path, Path] | None = None  # certificate and key: serve https
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
            "  cache: {blobdescriptor: inmemory}",  # as Debian's own config.yml has it
            f"  filesystem: {{rootdirectory: {self.root / 'data'}}}",
            "  delete: {enabled: true}",
            "http:",
            f"  addr: {self.host}",
        ]
        if self.tls:
            lines += [f"  tls: {{certificate: {self.tls[0]}, key: {self.tls[1]}}}"]
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
        """Serve; with port 0, on a free port (another, should one be taken meanwhile)."""
        require_tools("docker-registry")
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_path = self.root / "registry.log"
        fixed = self.port != 0
        for _ in range(1 if fixed else 5):
            if not fixed:
                self.port = free_port()
            if self._serve():
                return self
            if fixed:
                break
        raise AssertionError(f"docker-registry did not serve on {self.host}: {self._log()}")

    def _serve(self) -> bool:
        """Start the process; True once it answers, False if the port is taken."""
        if _port_open(self.port):
            return False
        config = self.root / "config.yml"
        config.write_text(self.config())
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        proc = self.proc
        _wait(
            lambda: proc.poll() is not None or _is_registry(self.port, self.tls is not None),
            30,
            f"docker-registry on {self.host}",
        )
        return proc.poll() is None

    def _log(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

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
        require_tools("umoci", "/bin/busybox")
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
    require_tools("skopeo")
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


def ensure_containers_config() -> list[str]:
    """What is missing from /etc/containers for these tests (empty when ready)."""
    return machine.containers_config_problems()


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


# Registries, token services and proxies for the registry-client tests.

OCI_INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
_ACCESS_LOG = re.compile(
    r'^\S+ \S+ \S+ \[[^\]]+\] "(\S+) (\S+) HTTP/[\d.]+" (\d{3}) \S+ "[^"]*" "([^"]*)"$'
)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    uri: str
    status: int
    user_agent: str

    @property
    def path(self) -> str:
        return urlsplit(self.uri).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.uri).query)


def registry_requests(registry: Registry, user_agent: str = "") -> list[LoggedRequest]:
    """The requests in a registry's access log, optionally only those whose User-Agent
    starts with `user_agent` (e.g. "tidegate/")."""
    found = []
    for line in registry.log_path.read_text(errors="replace").splitlines():
        match = _ACCESS_LOG.match(line)
        if match and match.group(4).startswith(user_agent):
            method, uri, status, agent = match.groups()
            found.append(LoggedRequest(method, uri, int(status), agent))
    return found


def digest_of(reference: str) -> str:
    """The digest a registry holds under `host:port/repo:tag`, as skopeo sees it."""
    return subprocess.run(
        [
            "skopeo",
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            f"docker://{reference}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def manifest_of(host: str, repository: str, reference: str) -> tuple[bytes, str]:
    """A manifest's bytes and media type from an anonymous registry on loopback."""
    accept = ", ".join([OCI_INDEX_TYPE, OCI_MANIFEST_TYPE])
    request = urllib.request.Request(
        f"http://{host}/v2/{repository}/manifests/{reference}", headers={"Accept": accept}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read(), response.headers["Content-Type"]


def push_index(host: str, repository: str, tag: str, children: list[tuple[str, dict]]) -> str:
    """PUT an OCI index over manifests already in `repository` (digest, platform) to an
    anonymous registry on loopback; returns its digest. Indented JSON, so a copy that
    re-serialized it would change the digest."""
    entries = []
    for digest, platform in children:
        body, media_type = manifest_of(host, repository, digest)
        entries.append(
            {"mediaType": media_type, "digest": digest, "size": len(body), "platform": platform}
        )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX_TYPE, "manifests": entries}
    body = json.dumps(index, indent=3).encode()
    request = urllib.request.Request(
        f"http://{host}/v2/{repository}/manifests/{tag}",
        data=body,
        method="PUT",
        headers={"Content-Type": OCI_INDEX_TYPE},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class TokenRequest:
    account: str | None
    scopes: list[str]
    service: str


@dataclass
class TokenIssuer:
    """A token service per Docker's token spec that a `TokenRegistry` trusts: RS256 JWTs
    whose `x5c` header carries a self-signed certificate, which is also the registry's
    rootcertbundle. Known users (Basic auth, checked) get every action they ask for;
    anonymous callers get `pull` only. Listens on a free loopback port."""

    root: Path
    users: dict[str, str] = field(default_factory=dict)
    service: str = "tidegate-test-registry"
    issuer: str = "tidegate-test-issuer"
    requests: list[TokenRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @staticmethod
    def available() -> bool:
        return x509 is not None

    @property
    def cert_path(self) -> Path:
        return self.root / "issuer.pem"

    @property
    def realm(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def start(self) -> TokenIssuer:
        self.root.mkdir(parents=True, exist_ok=True)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.issuer)])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                status, body = issuer._answer(self.path, self.headers.get("Authorization"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _answer(self, path: str, authorization: str | None) -> tuple[int, dict]:
        url = urlsplit(path)
        if url.path != "/token":
            return 404, {"details": "not found"}
        params = parse_qs(url.query)
        account = None
        if authorization:
            user, _, password = (
                base64.b64decode(authorization.partition(" ")[2]).decode().partition(":")
            )
            if self.users.get(user) != password:
                return 401, {"details": "incorrect username or password"}
            account = user
        scopes = [s for value in params.get("scope", []) for s in value.split()]
        self.requests.append(TokenRequest(account, scopes, params.get("service", [""])[0]))
        access = []
        for scope in scopes:
            resource, _, actions = scope.rpartition(":")
            kind, _, name = resource.partition(":")
            wanted = actions.split(",")
            granted = wanted if account else [a for a in wanted if a == "pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        return 200, {"token": self._sign(account or "", access), "expires_in": 300}

    def _sign(self, subject: str, access: list[dict]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenRegistry(Registry):
    """A `Registry` that takes tokens from `issuer` (`auth: token:` in its config)."""

    issuer: TokenIssuer | None = None

    def config(self) -> str:
        assert self.issuer is not None and self.htpasswd is None
        return super().config() + (
            "auth:\n"
            "  token:\n"
            f"    realm: {self.issuer.realm}\n"
            f"    service: {self.issuer.service}\n"
            f"    issuer: {self.issuer.issuer}\n"
            f"    rootcertbundle: {self.issuer.cert_path}\n"
        )


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class _QuietServer(ThreadingHTTPServer):
    """A client that vanishes mid-request (a killed server) is expected here, not news."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@dataclass
class FlakyProxy:
    """A reverse proxy on loopback (a port the OS hands out) in front of `upstream`
    (host:port). For each key `fault(method, path)` returns, the first such request is
    answered `status` with `Retry-After`; everything else is forwarded (the Host header
    too, so the registry's Location URLs point back at the proxy)."""

    upstream: str
    fault: Callable[[str, str], str | None] = lambda method, path: None
    status: int = 429
    retry_after: str = "1"
    failed: list[str] = field(default_factory=list)
    # The first request `stall` gives seconds for is held that long before it goes on
    # (a slow link, for crashing a server mid-copy); `stalled` says which.
    stall: Callable[[str, str], float] = lambda method, path: 0.0
    stalled: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FlakyProxy:
        proxy, seen = self, set()
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                key = proxy.fault(self.command, urlsplit(self.path).path)
                with lock:
                    fail = key is not None and key not in seen
                    if fail:
                        seen.add(key)
                        proxy.failed.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                assert "chunked" not in self.headers.get("Transfer-Encoding", "")
                body = self.rfile.read(length) if length else b""
                if fail:
                    data = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
                    self.send_response(proxy.status)
                    self.send_header("Retry-After", proxy.retry_after)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                hold = proxy.stall(self.command, urlsplit(self.path).path)
                with lock:
                    hold = hold if hold and not proxy.stalled else 0.0
                    if hold:
                        proxy.stalled.append(f"{self.command} {self.path}")
                if hold:
                    time.sleep(hold)
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                length_header = answer.getheader("Content-Length")
                if self.command == "HEAD" and length_header is not None:
                    self.send_header("Content-Length", length_header)
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
