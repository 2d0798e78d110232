"""Manifests over HTTP: resolve a tag, read, check for, and write a manifest's exact bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from tidegate.registry.errors import InvalidReference, RegistryError, RegistryProtocolError
from tidegate.registry.manifests import ManifestFormatError, digest_of, media_type_of
from tidegate.registry.reference import ImageRef, check_digest
from tidegate.registry.session import Session, error, raise_for_status


@dataclass(frozen=True)
class Resolved:
    """What a reference points at now."""

    digest: str
    media_type: str
    size: int


class Manifest(NamedTuple):
    """A manifest's exact bytes, its media type, and the digest of those bytes."""

    content: bytes
    media_type: str
    digest: str


async def resolve(session: Session, ref: ImageRef) -> Resolved:
    """The digest, media type and size `ref` names now (a HEAD when the registry answers
    it fully, else a GET whose bytes are hashed)."""
    response, _ = await session.request("HEAD", _url(session, ref), ref)
    digest = response.headers.get("docker-content-digest", "")
    media_type = media_type_of(response.headers.get("content-type"), b"")
    size = response.headers.get("content-length", "")
    if response.status_code == 429 or response.status_code >= 500:
        raise_for_status(response, b"", ref)  # retried already: a GET would not fare better
    if response.is_success and valid_digest(digest) and media_type and size.isdigit():
        if ref.digest and digest != ref.digest:
            raise _mismatch(ref, digest)
        return Resolved(digest, media_type, int(size))
    # No digest header, or an error a HEAD cannot explain (it has no body).
    manifest = await get_manifest(session, ref)
    return Resolved(manifest.digest, manifest.media_type, len(manifest.content))


async def get_manifest(session: Session, ref: ImageRef) -> Manifest:
    """The manifest's exact bytes; for a digest reference, checked against the digest."""
    response, body = await session.request("GET", _url(session, ref), ref)
    raise_for_status(response, body, ref)
    media_type = media_type_of(response.headers.get("content-type"), body)
    algorithm = ref.digest.partition(":")[0] if ref.digest else "sha256"
    try:
        digest = digest_of(body, media_type, algorithm)
    except ManifestFormatError as exc:
        raise error(RegistryProtocolError, ref, str(exc)) from exc
    if ref.digest and digest != ref.digest:
        raise _mismatch(ref, digest)
    said = response.headers.get("docker-content-digest", "")
    if said.startswith(f"{algorithm}:") and said != digest:
        shown = said if valid_digest(said) else "an invalid digest"  # a header: not quoted
        raise error(
            RegistryProtocolError, ref, f"Docker-Content-Digest {shown} but the bytes are {digest}"
        )
    return Manifest(body, media_type, digest)


async def manifest_digest(session: Session, ref: ImageRef) -> str | None:
    """The digest `ref` names at the registry, or None when it has no such manifest."""
    response, _ = await session.request("HEAD", _url(session, ref), ref)
    if response.status_code == 404:
        return None
    raise_for_status(response, b"", ref)
    digest = response.headers.get("docker-content-digest", "")
    if ref.digest:
        if valid_digest(digest) and digest != ref.digest:
            raise _mismatch(ref, digest)
        return ref.digest
    if valid_digest(digest):
        return digest
    return (await get_manifest(session, ref)).digest  # a registry that omits the header


async def put_manifest(session: Session, ref: ImageRef, content: bytes, media_type: str) -> str:
    """PUT `content` as it is under `ref`'s tag (by digest when it has none); returns
    the digest. A digest on `ref` must be the digest of `content`."""
    try:
        digest = digest_of(content, media_type, ref.digest.partition(":")[0] or "sha256")
    except ManifestFormatError as exc:
        raise error(RegistryProtocolError, ref, str(exc)) from exc
    if ref.digest and digest != ref.digest:
        raise error(InvalidReference, ref, f"the manifest's digest is {digest}")
    target = ImageRef(ref.registry, ref.repository, ref.tag, "" if ref.tag else digest)
    url = session.url(target, f"manifests/{target.reference}")
    headers = {"Content-Type": media_type}
    response, body = await session.request("PUT", url, target, content=content, headers=headers)
    raise_for_status(response, body, target)
    said = response.headers.get("docker-content-digest", "")
    if valid_digest(said) and said.partition(":")[0] == digest.partition(":")[0] and said != digest:
        raise error(
            RegistryProtocolError, target, f"stored as {said}, but the bytes sent are {digest}"
        )
    return digest


def valid_digest(digest: str) -> bool:
    try:
        check_digest(digest)
    except InvalidReference:
        return False
    return True


def _url(session: Session, ref: ImageRef) -> str:
    return session.url(ref, f"manifests/{ref.reference}")


def _mismatch(ref: ImageRef, digest: str) -> RegistryError:
    return error(RegistryProtocolError, ref, f"the registry served {digest} for {ref.digest}")
