"""One poll of one target: list the tags, keep the matching ones, HEAD each for its digest.

A HEAD of a manifest answers the digest in `Docker-Content-Digest` and is not counted
against Docker Hub's pull limit; the Accept header names the index and manifest-list
types too (registry/manifests.py `ACCEPT`), so a multi-platform tag answers its
index's digest: the digest a webhook reports, and the one promotion copies.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tidegate.registry import ImageRef, InvalidReference, ManifestNotFound, RegistryClient
from tidegate.registry.manifest_io import Resolved


@dataclass(frozen=True)
class Seen:
    """A matching tag's manifest at this poll."""

    digest: str
    media_type: str


async def observe(
    client: RegistryClient,
    registry: str,
    repository: str,
    accepts: Callable[[str], bool],
    gate: asyncio.Semaphore,
) -> dict[str, Seen]:
    """The tags of `repository` that `accepts` keeps, with their manifests now. A tag
    deleted between the listing and its HEAD, or whose name is no tag, is left out.
    Each request waits for `gate`, the registry's bound on requests in flight."""
    async with gate:
        listed = await client.list_tags(ImageRef(registry, repository))
    wanted: list[ImageRef] = []
    for tag in dict.fromkeys(listed):  # once each, in the registry's order
        try:
            ref = ImageRef(registry, repository, tag)
        except InvalidReference:  # a hostile or broken registry's "tag"
            continue
        if accepts(tag):
            wanted.append(ref)

    async def head(ref: ImageRef) -> Resolved | None:
        async with gate:
            try:
                return await client.resolve(ref)
            except ManifestNotFound:
                return None

    found = await asyncio.gather(*(head(ref) for ref in wanted))
    return {
        ref.tag: Seen(resolved.digest, resolved.media_type)
        for ref, resolved in zip(wanted, found, strict=True)
        if resolved is not None
    }


def changed(before: Mapping[str, str], now: Mapping[str, Seen]) -> list[str]:
    """Tags that are new since `before`, or name another digest, in listing order."""
    return [tag for tag, seen in now.items() if before.get(tag) != seen.digest]


def filter_key(tags: Sequence[str]) -> str:
    """Names the tag filter a target's tags were recorded under: when the workflow's
    `tags` change, tags that only the new filter keeps are recorded, not announced
    (they were pushed before anyone asked about them)."""
    return hashlib.sha256("\n".join(tags).encode()).hexdigest()[:32]
