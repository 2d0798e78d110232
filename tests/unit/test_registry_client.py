"""RegistryClient's HTTP logic against httpx2.MockTransport: digests, statuses, retries."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable, Coroutine
from typing import Any

import httpx2
import pytest

import tidegate.registry as registry_pkg
from tidegate.registry import (
    MANIFEST_MEDIA_TYPES,
    ImageRef,
    ManifestNotFound,
    RegistryAuthError,
    RegistryClient,
    RegistryError,
    RegistryProtocolError,
    RegistryUnreachable,
    Resolved,
)
from tidegate.registry.manifests import DOCKER_SCHEMA1_SIGNED, OCI_INDEX, OCI_MANIFEST, digest_of

pytestmark = pytest.mark.anyio

BODY = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}\n'
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()
REF = ImageRef.parse("registry.test/acme/web:v1")

Handler = (
    Callable[[httpx2.Request], httpx2.Response]
    | Callable[[httpx2.Request], Coroutine[Any, Any, httpx2.Response]]
)


def manifest(request: httpx2.Request, *, digest_header: bool = True) -> httpx2.Response:
    headers = {"Content-Type": OCI_MANIFEST, "Content-Length": str(len(BODY))}
    if digest_header:
        headers["Docker-Content-Digest"] = DIGEST
    return httpx2.Response(200, headers=headers, content=b"" if request.method == "HEAD" else BODY)


def make(handler: Handler, **kw: object) -> RegistryClient:
    kw.setdefault("backoff", 0.001)
    return RegistryClient(
        lambda host: None,
        transport=httpx2.MockTransport(handler),
        **kw,  # type: ignore[arg-type]
    )


async def test_resolve_uses_head_and_the_digest_header() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return manifest(request)

    async with make(handler) as client:
        resolved = await client.resolve(REF)
    assert resolved == Resolved(DIGEST, OCI_MANIFEST, len(BODY))
    assert [(r.method, str(r.url)) for r in seen] == [
        ("HEAD", "https://registry.test/v2/acme/web/manifests/v1")
    ]
    accept = seen[0].headers["accept"]
    for media_type in MANIFEST_MEDIA_TYPES:
        assert media_type in accept
    assert accept.endswith("application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5")


async def test_resolve_without_digest_header_hashes_the_bytes() -> None:
    methods: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        methods.append(request.method)
        return manifest(request, digest_header=False)

    async with make(handler) as client:
        resolved = await client.resolve(REF)
    assert methods == ["HEAD", "GET"]
    assert resolved == Resolved(DIGEST, OCI_MANIFEST, len(BODY))


@pytest.mark.parametrize(
    ("registry", "insecure", "url"),
    [
        ("127.0.0.1:5902", (), "http://127.0.0.1:5902/"),
        ("localhost:5000", (), "http://localhost:5000/"),
        ("docker.io", (), "https://registry-1.docker.io/"),
        ("10.1.2.3:5000", ("10.1.2.3:5000",), "http://10.1.2.3:5000/"),
    ],
)
async def test_scheme_and_api_host(registry: str, insecure: tuple[str, ...], url: str) -> None:
    urls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        urls.append(str(request.url))
        return manifest(request)

    async with make(handler, insecure_hosts=insecure) as client:
        await client.resolve(ImageRef(registry, "acme/web", "v1"))
    assert urls[0].startswith(url)


async def test_get_manifest_by_digest_verifies_the_bytes() -> None:
    async with make(lambda r: manifest(r, digest_header=False)) as client:
        got = await client.get_manifest(REF.with_digest(DIGEST))
        assert got == (BODY, OCI_MANIFEST, DIGEST)
        other = "sha256:" + "0" * 64
        with pytest.raises(RegistryProtocolError) as caught:
            await client.get_manifest(REF.with_digest(other))
    assert f"served {DIGEST} for {other}" in str(caught.value)
    assert f"registry.test/acme/web@{other}" in str(caught.value)


async def test_digest_header_that_disagrees_with_the_bytes() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        response = manifest(request)
        response.headers["Docker-Content-Digest"] = "sha256:" + "1" * 64
        return response

    async with make(handler) as client:
        with pytest.raises(RegistryProtocolError, match="Docker-Content-Digest"):
            await client.get_manifest(REF)


async def test_media_type_from_the_body_when_the_header_is_generic() -> None:
    index = b'{"schemaVersion":2,"manifests":[]}'

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"Content-Type": "application/json"}, content=index)

    async with make(handler) as client:
        resolved = await client.resolve(REF)
    assert resolved.media_type == OCI_INDEX
    assert resolved.digest == "sha256:" + hashlib.sha256(index).hexdigest()


def test_signed_schema1_digest_leaves_out_the_signatures() -> None:
    payload = b'{\n   "schemaVersion": 1,\n   "name": "acme/web"\n}'
    length = len(payload) - 2  # libtrust cuts before the closing "\n}"
    protected = {"formatLength": length, "formatTail": _b64url(payload[length:])}
    signature = {"protected": _b64url(json.dumps(protected).encode()), "signature": "x"}
    signed = payload[:length] + b',\n   "signatures": ' + json.dumps([signature]).encode() + b"\n}"
    expected = "sha256:" + hashlib.sha256(payload).hexdigest()
    assert digest_of(signed, DOCKER_SCHEMA1_SIGNED) == expected
    assert digest_of(signed, OCI_MANIFEST) != expected


@pytest.mark.parametrize(
    ("status", "body", "kind", "says"),
    [
        (
            404,
            {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
            ManifestNotFound,
            "HTTP 404: manifest not found (manifest unknown)",
        ),
        (
            401,
            {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
            RegistryAuthError,
            "HTTP 401: access denied anonymously (unauthorized)",
        ),
        (
            403,
            {"details": "no pull access"},  # words, not a code: left out
            RegistryAuthError,
            "HTTP 403: access denied anonymously",
        ),
        (
            400,
            {"errors": [{"code": "NAME_INVALID"}]},
            RegistryProtocolError,
            "HTTP 400: unexpected answer (name invalid)",
        ),
        (307, {}, RegistryProtocolError, "HTTP 307: redirect not followed"),
    ],
)
async def test_error_statuses(
    status: int, body: object, kind: type[RegistryError], says: str
) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        headers = {"Location": "https://elsewhere.test/x"} if status == 307 else {}
        return httpx2.Response(status, json=body, headers=headers)

    async with make(handler) as client:
        with pytest.raises(kind) as caught:
            await client.resolve(REF)
    assert caught.value.status == status
    assert str(caught.value) == f"registry.test/acme/web:v1: {says}"


async def test_429_and_5xx_are_retried_honouring_retry_after(waits: list[float]) -> None:
    answers = [httpx2.Response(429, headers={"Retry-After": "2"}), httpx2.Response(502)]

    def handler(request: httpx2.Request) -> httpx2.Response:
        return answers.pop(0) if answers else manifest(request)

    async with make(handler, attempts=3, backoff=0.5) as client:
        assert (await client.resolve(REF)).digest == DIGEST
    assert waits[0] == 2.0
    assert 0.25 <= waits[1] <= 1.0  # backoff 0.5 · 2 with equal jitter


async def test_retries_end_in_registry_unreachable(waits: list[float]) -> None:
    calls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.method)
        return httpx2.Response(503, headers={"Retry-After": "600"}, text="down")

    async with make(handler, attempts=3, max_delay=5) as client:
        with pytest.raises(RegistryUnreachable) as caught:
            await client.resolve(REF)
    assert calls == ["HEAD"] * 3  # no GET after a HEAD that could not get through
    assert waits == [5, 5]  # Retry-After capped by max_delay
    assert caught.value.status == 503


async def test_token_service_busy_is_retried(waits: list[float]) -> None:
    busy = [True]

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.host == "auth.test":
            if busy.pop() if busy else False:
                return httpx2.Response(503, headers={"Retry-After": "1"})
            return httpx2.Response(200, json={"token": "t"})
        if request.headers.get("authorization") == "Bearer t":
            return manifest(request)
        challenge = 'Bearer realm="https://auth.test/token",service="s"'
        return httpx2.Response(401, headers={"WWW-Authenticate": challenge})

    async with make(handler) as client:
        assert (await client.resolve(REF)).digest == DIGEST
    assert waits == [1.0]


async def test_auth_errors_name_the_image() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        challenge = 'Bearer realm="http://auth.test/token",service="s"'
        return httpx2.Response(401, headers={"WWW-Authenticate": challenge})

    async with make(handler) as client:
        with pytest.raises(RegistryProtocolError) as caught:
            await client.resolve(REF)
    assert str(caught.value).startswith("registry.test/acme/web:v1: token realm")


async def test_connection_errors_and_timeouts_are_unreachable() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("Connection refused", request=request)

    def time_out(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    async def hang(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(5)
        return manifest(request)

    async with make(refuse) as client:
        with pytest.raises(RegistryUnreachable, match="cannot connect to registry.test"):
            await client.resolve(REF)
    async with make(time_out, timeout=3) as client:
        with pytest.raises(RegistryUnreachable, match="no answer from registry.test within 3s"):
            await client.resolve(REF)
    async with make(hang, timeout=0.05) as client:
        with pytest.raises(RegistryUnreachable, match=r"within 0.05s"):
            await client.resolve(REF)


async def test_oversized_manifest_is_refused() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b"x" * (4 * 1024 * 1024 + 1))

    async with make(handler) as client:
        with pytest.raises(RegistryProtocolError, match="larger than"):
            await client.get_manifest(REF)


def test_public_surface() -> None:
    assert sorted(registry_pkg.__all__) == sorted(
        [
            "MANIFEST_MEDIA_TYPES",
            "CredentialLookup",
            "CredentialStore",
            "Credentials",
            "ImageRef",
            "InvalidReference",
            "Manifest",
            "ManifestNotFound",
            "RegistryAuth",
            "RegistryAuthError",
            "RegistryClient",
            "RegistryError",
            "RegistryProtocolError",
            "RegistryRefused",
            "RegistryUnreachable",
            "Resolved",
            "api_host",
            "is_loopback",
        ]
    )
    for name in registry_pkg.__all__:
        assert getattr(registry_pkg, name) is not None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
