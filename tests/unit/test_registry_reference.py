"""Image references: Docker's normalization, and clear errors for what is not one."""

from __future__ import annotations

import pytest

from tidegate.registry import ImageRef, InvalidReference, RegistryError, api_host, is_loopback
from tidegate.registry.hosts import scheme_for

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", "latest", ""),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", ""),
        ("acme/web", "docker.io", "acme/web", "latest", ""),
        ("docker.io/nginx", "docker.io", "library/nginx", "latest", ""),
        ("index.docker.io/acme/web:v1", "docker.io", "acme/web", "v1", ""),
        ("docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", ""),
        ("ghcr.io/acme/web:v1.2.3", "ghcr.io", "acme/web", "v1.2.3", ""),
        ("ghcr.io/web", "ghcr.io", "web", "latest", ""),  # no library/ outside Docker Hub
        ("127.0.0.1:5902/acme/web:v1", "127.0.0.1:5902", "acme/web", "v1", ""),
        ("localhost/web", "localhost", "web", "latest", ""),
        ("localhost:5000/a/b/c:t", "localhost:5000", "a/b/c", "t", ""),
        ("localhost:5000", "docker.io", "library/localhost", "5000", ""),  # as Docker reads it
        ("[::1]:5000/web:v1", "[::1]:5000", "web", "v1", ""),
        ("Registry.Example/web", "Registry.Example", "web", "latest", ""),
        (f"acme/web@{D}", "docker.io", "acme/web", "", D),
        (f"quay.io/acme/web:v1@{D}", "quay.io", "acme/web", "v1", D),
        ("acme/my_app.web--x:V_1-rc.2", "docker.io", "acme/my_app.web--x", "V_1-rc.2", ""),
    ],
)
def test_parse_normalizes_like_docker(
    text: str, registry: str, repository: str, tag: str, digest: str
) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ImageRef.parse(str(ref)).reference == ref.reference


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("acme/Web", "lowercase"),
        ("Acme/Web", "lowercase"),  # "Acme" is a registry (upper case), "Web" is not valid
        ("docker.io/Acme/web", "lowercase"),
        ("acme/web:", "empty tag"),
        ("acme/web@", "empty digest"),
        ("acme/web@sha256:abc", "invalid digest"),
        ("acme/web@md5:" + "a" * 32, "invalid digest"),
        ("acme/web@sha256:" + "A" * 64, "invalid digest"),
        ("acme/web:-v1", "invalid tag"),
        ("acme/web:" + "v" * 129, "invalid tag"),
        ("acme//web", "invalid repository"),
        ("acme/web_", "invalid repository"),
        ("acme/-web", "invalid repository"),
        ("acme/web/", "invalid repository"),
        ("http://ghcr.io/acme/web", "invalid"),
        ("acme web", "invalid"),
        ("ghcr.io:x/acme/web", "invalid registry"),
        ("a" * 64, "image id"),
        ("ghcr.io/" + "a/" * 130 + "b", "longer than 255"),
    ],
)
def test_parse_rejects_bad_references_clearly(text: str, says: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        ImageRef.parse(text)
    assert says in str(caught.value)
    assert isinstance(caught.value, ValueError)  # usable in pydantic validators
    assert isinstance(caught.value, RegistryError)


def test_str_renders_the_tag_or_the_digest() -> None:
    ref = ImageRef.parse("127.0.0.1:5902/acme/web:v1")
    assert str(ref) == "127.0.0.1:5902/acme/web:v1"
    pinned = ref.with_digest(D)
    assert str(pinned) == f"127.0.0.1:5902/acme/web@{D}"
    assert (pinned.tag, pinned.digest, pinned.reference) == ("v1", D, D)
    assert ref.digest == ""  # frozen: with_digest returns a new value
    assert str(ImageRef.parse("nginx")) == "docker.io/library/nginx:latest"


def test_with_digest_validates() -> None:
    with pytest.raises(InvalidReference, match="invalid digest"):
        ImageRef.parse("acme/web").with_digest("sha256:nope")


def test_direct_construction_is_validated() -> None:
    assert ImageRef("ghcr.io", "acme/web").tag == "latest"
    with pytest.raises(InvalidReference):
        ImageRef("ghcr.io", "acme/../web", "v1")
    with pytest.raises(InvalidReference):
        ImageRef("ghcr.io/x", "acme/web", "v1")


@pytest.mark.parametrize(
    ("registry", "host"),
    [
        ("docker.io", "registry-1.docker.io"),
        ("index.docker.io", "registry-1.docker.io"),
        ("ghcr.io", "ghcr.io"),
        ("127.0.0.1:5902", "127.0.0.1:5902"),
    ],
)
def test_api_host(registry: str, host: str) -> None:
    assert api_host(registry) == host
    assert ImageRef(registry, "acme/web").api_host == host


@pytest.mark.parametrize(
    ("registry", "insecure", "scheme"),
    [
        ("127.0.0.1:5902", (), "http"),
        ("127.8.9.10", (), "http"),
        ("localhost:5000", (), "http"),
        ("[::1]:5000", (), "http"),
        ("docker.io", (), "https"),
        ("10.0.0.5:5000", (), "https"),
        ("10.0.0.5:5000", ("10.0.0.5:5000",), "http"),
        ("10.0.0.5:5000", ("10.0.0.5",), "http"),
        ("10.0.0.5:5000", ("10.0.0.5:6000",), "https"),
        ("localhost.evil.example", (), "https"),
    ],
)
def test_scheme_is_https_except_loopback_and_insecure(
    registry: str, insecure: tuple[str, ...], scheme: str
) -> None:
    assert scheme_for(registry, insecure) == scheme
    assert is_loopback(registry) == (scheme == "http" and not insecure)
