"""Copies into and within a token-auth registry: Debian's docker-registry trusting a
local token issuer (tests.parts.TokenIssuer: RS256 JWTs with an x5c certificate that is
also the registry's rootcertbundle). The source is an anonymous registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.parts import (
    ImageBuilder,
    Registry,
    TokenIssuer,
    TokenRegistry,
    manifest_of,
    push,
    registry_requests,
)
from tests.support import eventually, require
from tidegate.registry import CredentialStore, ImageRef, RegistryAuthError, RegistryClient
from tidegate.registry.manifests import references

pytestmark = pytest.mark.anyio

USER, PASSWORD = "promoter", "s3cret: with a colon"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    require(TokenIssuer.available(), "the token issuer needs the cryptography package")
    return ImageBuilder(tmp_path_factory.mktemp("images")).build("app", cmd=["true"])


@pytest.fixture
def issuer(tmp_path: Path, image: str) -> Iterator[TokenIssuer]:
    issuer = TokenIssuer(tmp_path / "issuer", users={USER: PASSWORD}).start()
    try:
        yield issuer
    finally:
        issuer.stop()


@pytest.fixture
def token_registry(tmp_path: Path, issuer: TokenIssuer) -> Iterator[Registry]:
    registry = TokenRegistry(tmp_path / "token", issuer=issuer).start()
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def source(tmp_path: Path, image: str) -> Iterator[Registry]:
    registry = Registry(tmp_path / "source").start()
    try:
        yield registry
    finally:
        registry.stop()


async def test_push_into_and_mount_within_a_token_registry(
    source: Registry, token_registry: Registry, issuer: TokenIssuer, image: str
) -> None:
    digest = push(image, f"{source.host}/acme/web:v1")
    body, media_type = manifest_of(source.host, "acme/web", digest)
    blobs = len(references(body, media_type).blobs)
    login = CredentialStore(given={token_registry.host: (USER, PASSWORD)})
    web = ImageRef.parse(f"{token_registry.host}/acme/web:v1")
    prod = ImageRef.parse(f"{token_registry.host}/acme/prod:v1")
    async with (
        RegistryClient(lambda host: None) as reader,
        RegistryClient(login) as client,
    ):
        pushed = await reader.copy(
            ImageRef.parse(f"{source.host}/acme/web@{digest}"), web, destination_client=client
        )
        assert (pushed.digest, pushed.uploaded, pushed.mounted) == (digest, blobs, 0)
        issuer.requests.clear()

        mounted = await client.copy(web.with_digest(digest), prod)
        assert (mounted.digest, mounted.mounted, mounted.uploaded) == (digest, blobs, 0)
        assert await client.exists(prod) == digest

    # The mount's token was asked for once, with both scopes, by the user.
    both = {"repository:acme/prod:pull,push", "repository:acme/web:pull"}
    mount_tokens = [r for r in issuer.requests if set(r.scopes) == both]
    assert len(mount_tokens) == 1
    assert mount_tokens[0].account == USER and mount_tokens[0].service == issuer.service
    # Later requests to acme/prod (blob mounts, the manifest PUT) reused that token.
    assert not [r for r in issuer.requests if r.scopes == ["repository:acme/prod:pull,push"]]

    def mounts() -> list[int]:
        return [
            r.status
            for r in registry_requests(token_registry, "tidegate/")
            if r.method == "POST" and "mount" in r.query and r.status != 401
        ]

    assert eventually(lambda: len(mounts()) == blobs and mounts()) == [201] * blobs


async def test_anonymous_push_is_refused_without_leaking_a_token(
    source: Registry, token_registry: Registry, image: str
) -> None:
    digest = push(image, f"{source.host}/acme/web:v1")
    async with RegistryClient(lambda host: None) as client:
        with pytest.raises(RegistryAuthError) as caught:
            await client.copy(
                ImageRef.parse(f"{source.host}/acme/web@{digest}"),
                ImageRef.parse(f"{token_registry.host}/acme/web:v1"),
            )
    error = caught.value
    assert error.status == 401
    assert error.registry == token_registry.host
    assert "with a token" in str(error)  # an anonymous token, for pull only
    assert "eyJ" not in str(error)  # no JWT in the message
