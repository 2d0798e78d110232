"""Referrers: the signatures, attestations and SBOMs that belong to an image, carried
along when the image is copied.

Three places hold them:

    referrers API   GET /v2/<name>/referrers/<digest> (OCI distribution 1.1): an index of
                    the manifests whose `subject` is the image, kept by the registry
    fallback tag    `sha256-<hex>`: the same index, kept by clients where the registry
                    lacks the API (its referrers URL answers 404)
    cosign tags     `sha256-<hex>.sig`, `.att` and `.sbom`: one manifest each

Each referrer manifest is copied by digest. A destination with the API indexes what
arrives with a `subject` itself; on one without it, the fallback index gets the new
entries, merged into what it lists already. The image keeps its digest in a copy, so every
signature stays valid. Only what the destination lacks is written: a repeat writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tidegate.registry.errors import ManifestNotFound, RegistryError, RegistryProtocolError
from tidegate.registry.manifest_io import Manifest, get_manifest, manifest_digest, put_manifest
from tidegate.registry.manifests import OCI_INDEX, ManifestFormatError, media_type_of, references
from tidegate.registry.pages import next_page
from tidegate.registry.reference import ImageRef
from tidegate.registry.session import Session, error, raise_for_status

COSIGN_SUFFIXES = ("sig", "att", "sbom")
MAX_PAGES = 100  # of a paginated referrers answer: a registry that links on forever

# Copies `source` (pinned) to `destination`: by digest when it has no tag, else to the tag.
Copy = Callable[[ImageRef, ImageRef], Awaitable[object]]


@dataclass(frozen=True)
class Carried:
    """What the destination holds now of what the source had for the image."""

    referrers: tuple[str, ...] = ()  # digests of manifests whose subject is the image
    tags: dict[str, str] = field(default_factory=dict)  # cosign tag → digest
    copied: int = 0  # how many of those the destination lacked
    referrers_api: bool | None = None  # the destination's; None: not asked (no referrers)
    fallback_tag: str = ""  # the destination's `sha256-<hex>` index, when written now

    @property
    def count(self) -> int:
        return len(self.referrers) + len(self.tags)

    def summary(self) -> str:
        """One line for a log: how many were carried, and how."""
        if not self.count:
            return "no signatures, attestations or SBOMs to carry"
        how = ""
        if self.referrers_api:
            how = "; the destination registry indexes referrers itself"
        elif self.fallback_tag:
            how = f"; fallback tag {self.fallback_tag} written"
        elif self.referrers_api is False:
            how = "; fallback tag up to date"
        return (
            f"signatures, attestations, SBOMs carried: {self.count} "
            f"({_counted(len(self.referrers), 'referrer')}, "
            f"{_counted(len(self.tags), 'cosign tag')}; "
            f"{self.copied} copied, {self.count - self.copied} already there{how})"
        )


def fallback_tag(digest: str) -> str:
    """The referrers tag schema's tag for `digest`: `<alg>-<hex>`, cut to fit a tag."""
    algorithm, _, hex_digest = digest.partition(":")
    return f"{algorithm[:32]}-{hex_digest[:64]}"


def cosign_tags(digest: str) -> tuple[str, ...]:
    algorithm, _, hex_digest = digest.partition(":")
    return tuple(f"{algorithm}-{hex_digest}.{suffix}" for suffix in COSIGN_SUFFIXES)


async def listed_by_api(session: Session, image: ImageRef) -> list[dict[str, Any]] | None:
    """The descriptors `GET /v2/<name>/referrers/<digest>` lists (all pages), or None when
    the registry lacks the API: a 404, or a 200 that is not an OCI index (as ORAS reads it)."""
    url = session.url(image, f"referrers/{image.digest}")
    found: list[dict[str, Any]] = []
    for page in range(MAX_PAGES):
        response, body = await session.request("GET", url, image, headers={"Accept": OCI_INDEX})
        if response.status_code == 404 and page == 0:
            return None
        raise_for_status(response, body, image, "referrers list")
        if media_type_of(response.headers.get("content-type"), body) != OCI_INDEX:
            return None
        found += _entries(body, image, "referrers list")
        following = next_page(response, image, "referrers list")
        if following is None:
            return found
        url = following
    raise error(RegistryProtocolError, image, f"referrers list longer than {MAX_PAGES} pages")


async def fallback_index(session: Session, image: ImageRef) -> Manifest | None:
    """The index under the image's fallback tag, or None when there is none."""
    ref = ImageRef(image.registry, image.repository, fallback_tag(image.digest))
    try:
        manifest = await get_manifest(session, ref)
    except ManifestNotFound:
        return None
    if manifest.media_type != OCI_INDEX:
        raise error(
            RegistryProtocolError, ref, f"a referrers fallback tag holding {manifest.media_type}"
        )
    return manifest


class Found(NamedTuple):
    """The referrers a registry lists for an image."""

    descriptors: list[dict[str, Any]]
    fallback: Manifest | None  # the fallback tag's index they were read from, if so


async def find(session: Session, image: ImageRef) -> Found:
    """The referrers of `image` (pinned): the API's list, else its fallback tag's."""
    listed = await listed_by_api(session, image)
    index = None
    if listed is None:
        index = await fallback_index(session, image)
        listed = _entries(index.content, image, "fallback index") if index else []
    unique = {d["digest"]: d for d in reversed(listed)}  # the first of duplicates wins
    return Found([d for d in listed if unique[d["digest"]] is d], index)


class Carrier:
    """Carries the referrers and cosign tags of `image` (pinned, read through `src`) to
    `destination`'s repository (written through `dst`). Use once: `await ….run()`."""

    def __init__(
        self, src: Session, image: ImageRef, dst: Session, destination: ImageRef, copy: Copy
    ) -> None:
        self._src, self._image = src, image
        self._dst = dst
        self._target = ImageRef(destination.registry, destination.repository, digest=image.digest)
        self._copy = copy
        self._copied = 0

    async def run(self) -> Carried:
        found = await find(self._src, self._image)
        for descriptor in found.descriptors:
            digest = descriptor["digest"]
            try:
                if await manifest_digest(self._dst, self._at(self._target, digest)) is None:
                    await self._carry(self._at(self._image, digest), self._at(self._target, digest))
            except RegistryError as exc:
                kind = descriptor.get("artifactType") or descriptor.get("mediaType") or "?"
                raise exc.within(f"referrer {digest} ({kind}) of {self._image}") from exc
        tags: dict[str, str] = {}
        for tag in cosign_tags(self._image.digest):
            try:
                digest = await self._carry_tag(tag)
            except RegistryError as exc:
                raise exc.within(f"cosign tag {tag} of {self._image}") from exc
            if digest:
                tags[tag] = digest
        api, written = None, ""
        if found.descriptors:
            try:
                api = await listed_by_api(self._dst, self._target) is not None
                if not api and await self._merge_fallback(found):
                    written = fallback_tag(self._image.digest)
            except RegistryError as exc:
                raise exc.within(f"referrers of {self._image}") from exc
        digests = tuple(d["digest"] for d in found.descriptors)
        return Carried(digests, tags, self._copied, api, written)

    async def _carry(self, source: ImageRef, destination: ImageRef) -> None:
        await self._copy(source, destination)
        self._copied += 1

    async def _carry_tag(self, tag: str) -> str | None:
        """Cosign's `tag` brought over when the source has it: the digest it names."""
        src = ImageRef(self._image.registry, self._image.repository, tag)
        digest = await manifest_digest(self._src, src)
        if digest is None:
            return None
        dst = ImageRef(self._target.registry, self._target.repository, tag)
        if await manifest_digest(self._dst, dst) != digest:
            await self._carry(self._at(self._image, digest), dst)
        return digest

    async def _merge_fallback(self, found: Found) -> bool:
        """Make the destination's fallback index list every referrer; whether it was written."""
        existing = await fallback_index(self._dst, self._target)
        if existing is None and found.fallback is not None:
            content = found.fallback.content  # the source's index, byte for byte
        else:
            doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
            if existing is not None:
                entries = _entries(existing.content, self._target, "fallback index")
                doc = {**json.loads(existing.content), "manifests": entries}  # others kept
            listed = {d["digest"] for d in doc["manifests"]}
            new = [d for d in found.descriptors if d["digest"] not in listed]
            if not new:
                return False
            doc["manifests"] = [*doc["manifests"], *new]
            content = json.dumps(doc, separators=(",", ":")).encode()
        tag = ImageRef(
            self._target.registry, self._target.repository, fallback_tag(self._image.digest)
        )
        await put_manifest(self._dst, tag, content, OCI_INDEX)
        return True

    @staticmethod
    def _at(ref: ImageRef, digest: str) -> ImageRef:
        return ImageRef(ref.registry, ref.repository, digest=digest)


def _counted(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _entries(body: bytes, where: ImageRef, what: str) -> list[dict[str, Any]]:
    """An index's descriptors as they are (artifactType and annotations kept), checked."""
    try:
        references(body, OCI_INDEX)  # digests and sizes valid
    except ManifestFormatError as exc:
        raise error(RegistryProtocolError, where, f"{what}: {exc}") from exc
    entries = json.loads(body).get("manifests", [])
    return [dict(e) for e in entries]
