"""Image references, parsed and normalized the way Docker does it.

`nginx` is `docker.io/library/nginx:latest`; `acme/web` is `docker.io/acme/web:latest`;
the first path component is a registry when it holds a `.` or a `:` or is `localhost`
(`127.0.0.1:5000/web`, `ghcr.io/acme/web`). The grammar is distribution's
`reference/regexp.go`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from tidegate.registry.errors import InvalidReference
from tidegate.registry.hosts import DOCKER_HUB
from tidegate.registry.hosts import api_host as _api_host

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REGISTRY = re.compile(rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX_ID = re.compile(r"[a-f0-9]{64}")
_MAX_NAME = 255  # registry/repository, as distribution limits it


@dataclass(frozen=True)
class ImageRef:
    """`registry/repository` plus a tag, a digest, or both (the digest wins).

    Construct it with `parse`; direct construction is validated the same way.
    """

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    def __post_init__(self) -> None:
        if not _REGISTRY.fullmatch(self.registry):
            raise InvalidReference(f"invalid registry {self.registry!r}")
        _check_repository(self.repository)
        if self.tag and not _TAG.fullmatch(self.tag):
            raise InvalidReference(f"invalid tag {_shown(self.tag)}")
        if self.digest:
            check_digest(self.digest)
        if not self.tag and not self.digest:
            object.__setattr__(self, "tag", "latest")
        if len(f"{self.registry}/{self.repository}") > _MAX_NAME:
            raise InvalidReference(f"repository name longer than {_MAX_NAME} characters")

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse and normalize `text`; raises `InvalidReference` saying what is wrong."""
        if not text:
            raise InvalidReference("empty image reference")
        if _HEX_ID.fullmatch(text):
            raise InvalidReference(f"{text!r} is an image id, not a reference")
        name, at, digest = text.partition("@")
        if at and not digest:
            raise InvalidReference(f"invalid reference {_shown(text)}: empty digest after '@'")
        tag = ""
        colon, slash = name.rfind(":"), name.rfind("/")
        if colon > slash:
            name, tag = name[:colon], name[colon + 1 :]
            if not tag:
                raise InvalidReference(f"invalid reference {_shown(text)}: empty tag after ':'")
        registry, repository = _split_registry(name)
        if repository.lower() != repository:
            raise InvalidReference(
                f"invalid reference {_shown(text)}: repository name must be lowercase"
            )
        try:
            return cls(registry, repository, tag, digest)
        except InvalidReference as exc:
            raise InvalidReference(f"invalid reference {_shown(text)}: {exc.detail}") from None

    @property
    def api_host(self) -> str:
        """The host[:port] serving the registry API (`registry-1.docker.io` for Docker Hub)."""
        return _api_host(self.registry)

    @property
    def reference(self) -> str:
        """What goes in `/v2/<repository>/manifests/<reference>`: the digest if known."""
        return self.digest or self.tag

    def with_digest(self, digest: str) -> ImageRef:
        """This image pinned to `digest` (the tag is kept, for the record)."""
        return replace(self, digest=digest)

    def __str__(self) -> str:
        # Never `:tag@digest`: containers/image (Podman, skopeo) refuses that form.
        suffix = f"@{self.digest}" if self.digest else f":{self.tag}"
        return f"{self.registry}/{self.repository}{suffix}"


def check_digest(digest: str) -> None:
    """Raise `InvalidReference` unless `digest` is `sha256:<64 hex>` (or sha384, sha512)."""
    algorithm, _, hex_part = digest.partition(":")
    length = _DIGEST_HEX.get(algorithm)
    if length is None or len(hex_part) != length or not re.fullmatch(r"[a-f0-9]+", hex_part):
        raise InvalidReference(
            f"invalid digest {_shown(digest)}: expected sha256: and 64 lower-case hex digits"
        )


def _split_registry(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    is_registry = "." in first or ":" in first or first == "localhost" or first.lower() != first
    if not slash or not is_registry:
        registry, repository = DOCKER_HUB, name
    else:
        registry, repository = first, rest
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return registry, repository


def _check_repository(repository: str) -> None:
    if not repository:
        raise InvalidReference("empty repository name")
    if not _REPOSITORY.fullmatch(repository):
        raise InvalidReference(
            f"invalid repository name {_shown(repository)}: path components are lower-case "
            "letters and digits, separated by '.', '_', '__' or '-'"
        )


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")
