"""RegistryClient.copy against Debian's docker-registry (Distribution 2.8): retag, a
cross-repository mount, a streamed and chunked cross-registry copy into an htpasswd
registry, a multi-arch OCI index, a 429 in front of a registry, and a copy resumed
after a crash. Two anonymous registries, one with Basic auth and a proxy; what happened
is read from the registries' access logs."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from tests.parts import (
    FlakyProxy,
    ImageBuilder,
    Registry,
    digest_of,
    manifest_of,
    push,
    push_index,
    registry_requests,
)
from tests.support import eventually
from tidegate.registry import CredentialStore, ImageRef, RegistryClient
from tidegate.registry import client as client_module
from tidegate.registry.copying import CopyResult
from tidegate.registry.manifests import OCI_INDEX, OCI_MANIFEST, references

pytestmark = pytest.mark.anyio

USER, PASSWORD = "ci-bot", "correct horse battery"
OURS = "tidegate/"  # our User-Agent, to tell our requests from skopeo's in the logs
MIB = 1024 * 1024


def anonymous(host: str) -> None:
    return None


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory) -> ImageBuilder:
    return ImageBuilder(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def small_image(builder: ImageBuilder) -> str:
    return builder.build("small", cmd=["echo", "hello"], files={"/etc/app": "v1\n"})


@pytest.fixture(scope="module")
def big_image(builder: ImageBuilder) -> str:
    # Random bytes (as base64 text: the builder writes text) do not compress: a layer
    # of about 5 MiB.
    noise = base64.b64encode(os.urandom(5 * MIB)).decode()
    return builder.build("big", cmd=["true"], files={"/data/noise": noise})


def _registry(root: Path, **kw: object) -> Iterator[Registry]:
    registry = Registry(root, **kw).start()  # type: ignore[arg-type]
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def source(tmp_path: Path, builder: ImageBuilder) -> Iterator[Registry]:
    yield from _registry(tmp_path / "source")


@pytest.fixture
def target(tmp_path: Path, builder: ImageBuilder) -> Iterator[Registry]:
    yield from _registry(tmp_path / "target")


@pytest.fixture
def auth_target(tmp_path: Path, builder: ImageBuilder) -> Iterator[Registry]:
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt()).decode()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    yield from _registry(tmp_path / "auth", htpasswd=htpasswd)


def blob_count(host: str, repository: str, digest: str) -> int:
    return len(blob_digests(host, repository, digest))


def blob_digests(host: str, repository: str, digest: str) -> set[str]:
    body, media_type = manifest_of(host, repository, digest)
    return {b.digest for b in references(body, media_type).blobs}


def mounts(registry: Registry) -> list[str]:
    """Our mount requests as the registry answered them: `<status> <from repository>`."""
    return [
        f"{r.status} {r.query['from'][0]}"
        for r in registry_requests(registry, OURS)
        if r.method == "POST" and "mount" in r.query
    ]


def uploads(registry: Registry) -> list[str]:
    """Our requests that sent blob bytes: PATCHes, and PUTs that close an upload."""
    return [
        f"{r.method} {r.status}"
        for r in registry_requests(registry, OURS)
        if "/blobs/uploads/" in r.path and r.method in ("PATCH", "PUT")
    ]


async def test_retag_keeps_the_digest_and_moves_no_blob(source: Registry, small_image: str) -> None:
    digest = push(small_image, f"{source.host}/acme/web:v1")
    pinned = ImageRef.parse(f"{source.host}/acme/web@{digest}")
    production = ImageRef.parse(f"{source.host}/acme/web:production")
    async with RegistryClient(anonymous) as client:
        result = await client.copy(pinned, production)
        assert result == CopyResult(digest, OCI_MANIFEST, mounted=0, uploaded=0, skipped=0)
        assert await client.exists(production) == digest
        again = await client.copy(pinned, production)
    assert again == result

    tag, pinned_path = "/v2/acme/web/manifests/production", f"/v2/acme/web/manifests/{digest}"
    expected = [
        ("GET", pinned_path, 200),
        ("HEAD", tag, 404),
        ("PUT", tag, 201),  # the only write: no blob moved
        ("HEAD", tag, 200),  # exists()
        ("HEAD", pinned_path, 200),  # the repeat knows the manifest: is it still there?
        ("HEAD", tag, 200),  # the repeat finds the tag in place and writes nothing
    ]
    # The GET and the HEAD of a copy go out together: their order in the log varies.
    assert eventually(lambda: sorted(logged(source)) == sorted(expected) and expected)


def logged(registry: Registry) -> list[tuple[str, str, int]]:
    return [(r.method, r.path, r.status) for r in registry_requests(registry, OURS)]


async def test_cross_repository_copy_mounts_every_blob(source: Registry, small_image: str) -> None:
    digest = push(small_image, f"{source.host}/acme/web:v1")
    blobs = blob_count(source.host, "acme/web", digest)
    async with RegistryClient(anonymous) as client:
        result = await client.copy(
            ImageRef.parse(f"{source.host}/acme/web@{digest}"),
            ImageRef.parse(f"{source.host}/acme/prod:v1"),
        )
        assert await client.exists(ImageRef.parse(f"{source.host}/acme/prod:v1")) == digest
    assert (result.mounted, result.uploaded, result.skipped, result.bytes) == (blobs, 0, 0, 0)

    found = eventually(lambda: len(mounts(source)) == blobs and mounts(source))
    assert found == ["201 acme/web"] * blobs
    assert uploads(source) == []


async def test_cross_registry_copy_streams_in_chunks(
    source: Registry, auth_target: Registry, big_image: str, tmp_path: Path
) -> None:
    digest = push(big_image, f"{source.host}/acme/big:v1")
    body, media_type = manifest_of(source.host, "acme/big", digest)
    blobs = references(body, media_type).blobs
    assert max(b.size for b in blobs) > 4 * MIB
    progress: list[int] = []
    login = CredentialStore(given={auth_target.host: (USER, PASSWORD)})
    destination = ImageRef.parse(f"{auth_target.host}/mirror/big:v1")
    async with (
        RegistryClient(anonymous) as client,
        RegistryClient(login, chunk_size=MIB) as pusher,
    ):
        result = await client.copy(
            ImageRef.parse(f"{source.host}/acme/big@{digest}"),
            destination,
            on_progress=progress.append,
            destination_client=pusher,
        )
        total = sum(b.size for b in blobs)
        assert result == CopyResult(digest, OCI_MANIFEST, uploaded=len(blobs), bytes=total)
        assert sum(progress) == total and all(n > 0 for n in progress)
        assert await pusher.exists(destination) == digest

        before = len(registry_requests(auth_target, OURS))
        again = await client.copy(
            ImageRef.parse(f"{source.host}/acme/big@{digest}"),
            destination,
            destination_client=pusher,
        )
    assert again == CopyResult(digest, OCI_MANIFEST)
    big = max(b.size for b in blobs)
    patches = eventually(lambda: [u for u in uploads(auth_target) if u.startswith("PATCH")] or None)
    assert patches == ["PATCH 202"] * -(-big // MIB)  # ceil: 1 MiB chunks of the big layer
    assert uploads(auth_target).count("PUT 201") == len(blobs)
    # The repeat only looked: the tag already names the digest, so nothing was written.
    repeat = eventually(lambda: logged(auth_target)[before:] or None)
    assert ("HEAD", "/v2/mirror/big/manifests/v1", 200) in repeat
    assert {method for method, _, _ in repeat} <= {"HEAD"}

    # skopeo pulls it back and checks every digest on the way.
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--src-creds",
            f"{USER}:{PASSWORD}",
            f"docker://{destination}",
            f"oci:{tmp_path / 'pulled'}:v1",
        ],
        check=True,
        capture_output=True,
    )


async def test_a_second_copy_into_a_registry_mounts_what_the_first_uploaded(
    source: Registry, target: Registry, small_image: str
) -> None:
    digest = push(small_image, f"{source.host}/acme/web:v1")
    pinned = ImageRef.parse(f"{source.host}/acme/web@{digest}")
    blobs = blob_count(source.host, "acme/web", digest)
    async with RegistryClient(anonymous) as client:
        first = await client.copy(pinned, ImageRef.parse(f"{target.host}/mirror/one:v1"))
        second = await client.copy(pinned, ImageRef.parse(f"{target.host}/mirror/two:v1"))
    assert (first.uploaded, first.mounted) == (blobs, 0)
    assert (second.uploaded, second.mounted, second.bytes) == (0, blobs, 0)

    # The registry itself says the blobs were mounted (201), not sent again.
    found = eventually(lambda: len(mounts(target)) == blobs and mounts(target))
    assert found == ["201 mirror/one"] * blobs
    assert uploads(target).count("PUT 201") == blobs  # the first copy's, only
    assert digest_of(f"{target.host}/mirror/two:v1") == digest


async def test_multi_arch_index_keeps_its_digest_and_children(
    source: Registry, target: Registry, builder: ImageBuilder
) -> None:
    amd64 = push(builder.build("amd64", cmd=["echo", "amd64"]), f"{source.host}/acme/multi:amd64")
    arm64 = push(builder.build("arm64", cmd=["echo", "arm64"]), f"{source.host}/acme/multi:arm64")
    index = push_index(
        source.host,
        "acme/multi",
        "v1",
        [
            (amd64, {"os": "linux", "architecture": "amd64"}),
            (arm64, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
        ],
    )
    async with RegistryClient(anonymous) as client:
        result = await client.copy(
            ImageRef.parse(f"{source.host}/acme/multi@{index}"),
            ImageRef.parse(f"{target.host}/mirror/multi:v1"),
        )
        assert (result.digest, result.media_type) == (index, OCI_INDEX)
        # Platforms usually share their layer (same busybox, same umoci; unless the two
        # builds straddle a second): a shared blob is copied once.
        blobs = blob_digests(source.host, "acme/multi", amd64) | blob_digests(
            source.host, "acme/multi", arm64
        )
        assert result.uploaded == len(blobs)
        copied = await client.get_manifest(ImageRef.parse(f"{target.host}/mirror/multi:v1"))
        original, _ = manifest_of(source.host, "acme/multi", index)
        assert copied.content == original and copied.digest == index
        for child in (amd64, arm64):
            got = await client.get_manifest(ImageRef.parse(f"{target.host}/mirror/multi@{child}"))
            assert got.digest == child
            for blob in references(got.content, got.media_type).blobs:
                ref = ImageRef.parse(f"{target.host}/mirror/multi@{blob.digest}")
                assert await client.blob_exists(ref)


async def test_429_once_is_retried_honouring_retry_after(
    source: Registry, target: Registry, small_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)

    monkeypatch.setattr(client_module, "_sleep", sleep)

    def fault(method: str, path: str) -> str | None:
        if method == "POST" and path.endswith("/blobs/uploads/"):
            return "upload"
        if method == "PUT" and "/manifests/" in path:
            return "manifest"
        return None

    proxy = FlakyProxy(target.host, fault=fault, retry_after="2").start()
    try:
        digest = push(small_image, f"{source.host}/acme/web:v1")
        async with RegistryClient(anonymous) as client:
            result = await client.copy(
                ImageRef.parse(f"{source.host}/acme/web@{digest}"),
                ImageRef.parse(f"{proxy.host}/acme/web:v1"),
            )
            assert result.digest == digest
            assert await client.exists(ImageRef.parse(f"{target.host}/acme/web:v1")) == digest
    finally:
        proxy.stop()
    assert sorted(f.split()[0] for f in proxy.failed) == ["POST", "PUT"]
    assert waits == [2.0, 2.0]


async def test_a_copy_interrupted_mid_blob_completes_without_reuploading(
    source: Registry, target: Registry, big_image: str
) -> None:
    digest = push(big_image, f"{source.host}/acme/big:v1")
    body, media_type = manifest_of(source.host, "acme/big", digest)
    blobs = references(body, media_type).blobs
    pinned = ImageRef.parse(f"{source.host}/acme/big@{digest}")
    destination = ImageRef.parse(f"{target.host}/acme/big:v1")

    class Crash(Exception):
        pass

    sent = 0

    def crash_after_2_mib(n: int) -> None:
        nonlocal sent
        sent += n
        if sent > 2 * MIB:
            raise Crash

    async with RegistryClient(anonymous, chunk_size=MIB, concurrency=1) as client:
        with pytest.raises(Crash):
            await client.copy(pinned, destination, on_progress=crash_after_2_mib)
        assert await client.exists(destination) is None
        present = [
            b
            for b in blobs
            if await client.blob_exists(ImageRef.parse(f"{target.host}/acme/big@{b.digest}"))
        ]
        assert len(present) < len(blobs)
        result = await client.copy(pinned, destination)
        assert await client.exists(destination) == digest
    assert result.digest == digest
    assert result.skipped == len(present)
    assert result.uploaded == len(blobs) - len(present)
