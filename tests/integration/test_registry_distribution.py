"""RegistryClient against Debian's docker-registry (Distribution): anonymous, and with
htpasswd Basic auth; images built by umoci and pushed by skopeo."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from tests.parts import ImageBuilder, Registry, push
from tidegate.registry import (
    Credentials,
    CredentialStore,
    ImageRef,
    ManifestNotFound,
    RegistryAuthError,
    RegistryClient,
    RegistryUnreachable,
)
from tidegate.registry.manifests import OCI_MANIFEST

pytestmark = pytest.mark.anyio

USER, PASSWORD = "ci-bot", "correct horse battery"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An OCI layout built once per module: `oci:LAYOUT:TAG` for skopeo."""
    return ImageBuilder(tmp_path_factory.mktemp("images")).build(
        "app", cmd=["echo", "hello"], files={"/etc/app": "v1\n"}
    )


@pytest.fixture
def anon_registry(tmp_path: Path, image: str) -> Iterator[Registry]:
    registry = Registry(tmp_path / "anon").start()
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def auth_registry(tmp_path: Path, image: str) -> Iterator[Registry]:
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt()).decode()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    registry = Registry(tmp_path / "auth", htpasswd=htpasswd).start()
    try:
        yield registry
    finally:
        registry.stop()


def anonymous(host: str) -> Credentials | None:
    return None


async def test_resolve_returns_the_pushed_digest(anon_registry: Registry, image: str) -> None:
    pushed = push(image, f"{anon_registry.host}/acme/web:v1")
    ref = ImageRef.parse(f"{anon_registry.host}/acme/web:v1")
    async with RegistryClient(anonymous) as client:
        resolved = await client.resolve(ref)
        assert resolved.digest == pushed
        assert resolved.media_type == OCI_MANIFEST
        manifest = await client.get_manifest(ref.with_digest(pushed))
        assert resolved.size == len(manifest.content)
        assert "sha256:" + hashlib.sha256(manifest.content).hexdigest() == pushed
        assert json.loads(manifest.content)["schemaVersion"] == 2
        assert (await client.resolve(ref.with_digest(pushed))).digest == pushed


async def test_resolve_follows_a_moved_tag(anon_registry: Registry, tmp_path: Path) -> None:
    builder = ImageBuilder(tmp_path / "images")
    first = push(builder.build("one", cmd=["true"]), f"{anon_registry.host}/acme/web:v1")
    second = push(builder.build("two", cmd=["false"]), f"{anon_registry.host}/acme/web:v1")
    assert first != second
    async with RegistryClient(anonymous) as client:
        resolved = await client.resolve(ImageRef.parse(f"{anon_registry.host}/acme/web:v1"))
        assert resolved.digest == second
        old = await client.get_manifest(ImageRef.parse(f"{anon_registry.host}/acme/web@{first}"))
        assert old.digest == first  # the old digest still names the old image


async def test_unknown_tag_is_manifest_not_found(anon_registry: Registry, image: str) -> None:
    push(image, f"{anon_registry.host}/acme/web:v1")
    async with RegistryClient(anonymous) as client:
        with pytest.raises(ManifestNotFound) as caught:
            await client.resolve(ImageRef.parse(f"{anon_registry.host}/acme/web:nope"))
        assert caught.value.status == 404
        assert str(caught.value).startswith(f"{anon_registry.host}/acme/web:nope: HTTP 404")
        assert str(caught.value).endswith("manifest not found (manifest unknown)")
        with pytest.raises(ManifestNotFound):  # an unknown repository, too
            await client.resolve(ImageRef.parse(f"{anon_registry.host}/acme/absent:v1"))


async def test_stopped_registry_is_unreachable(anon_registry: Registry, image: str) -> None:
    push(image, f"{anon_registry.host}/acme/web:v1")
    anon_registry.stop()
    async with RegistryClient(anonymous, timeout=5) as client:
        with pytest.raises(RegistryUnreachable) as caught:
            await client.resolve(ImageRef.parse(f"{anon_registry.host}/acme/web:v1"))
    assert f"cannot connect to {anon_registry.host}" in str(caught.value)
    assert str(caught.value).startswith(f"{anon_registry.host}/acme/web:v1: ")


async def test_basic_auth_registry(auth_registry: Registry, image: str) -> None:
    pushed = push(image, f"{auth_registry.host}/acme/web:v1", creds=f"{USER}:{PASSWORD}")
    ref = ImageRef.parse(f"{auth_registry.host}/acme/web:v1")
    given = CredentialStore(given={auth_registry.host: (USER, PASSWORD)})
    async with RegistryClient(given) as client:
        assert (await client.resolve(ref)).digest == pushed
        assert (await client.resolve(ref)).digest == pushed  # Basic sent up front now


async def test_basic_auth_from_docker_config(
    auth_registry: Registry, image: str, tmp_path: Path
) -> None:
    pushed = push(image, f"{auth_registry.host}/acme/web:v1", creds=f"{USER}:{PASSWORD}")
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    secret = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    config.write_text(json.dumps({"auths": {f"http://{auth_registry.host}": {"auth": secret}}}))
    async with RegistryClient(CredentialStore(config)) as client:
        resolved = await client.resolve(ImageRef.parse(f"{auth_registry.host}/acme/web:v1"))
    assert resolved.digest == pushed


@pytest.mark.parametrize("creds", [Credentials(USER, "wrong password"), None], ids=str)
async def test_wrong_or_missing_credentials(
    auth_registry: Registry, image: str, creds: Credentials | None
) -> None:
    push(image, f"{auth_registry.host}/acme/web:v1", creds=f"{USER}:{PASSWORD}")
    async with RegistryClient(lambda host: creds) as client:
        with pytest.raises(RegistryAuthError) as caught:
            await client.resolve(ImageRef.parse(f"{auth_registry.host}/acme/web:v1"))
    error = caught.value
    assert error.status == 401
    assert "HTTP 401" in str(error)
    assert "(unauthorized)" in str(error)  # the registry's error code
    assert ("with credentials" if creds else "anonymously") in str(error)
    assert "wrong password" not in str(error) and PASSWORD not in str(error)
