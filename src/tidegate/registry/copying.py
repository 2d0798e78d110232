"""Copying an image by digest to another tag, repository or registry, digest preserved.

What moves, for each manifest the destination lacks (the image: the destination tag is
asked; a child of an index: its digest is):

    same repository     nothing: the manifest is PUT under the new tag (a retag)
    same registry       each blob mounted from the source repository, else streamed
    another registry    each blob mounted from a repository there that an earlier copy
                        left it in (`sightings`), else, if the destination lacks it
                        (HEAD), streamed across

An index (manifest list) brings every child manifest first, by digest, then its own exact
bytes, so its digest is the source's. A tag that already names the digest is left alone:
a repeated copy, after a crash or not, moves nothing again and fires no push webhook.
A manifest read before (`manifest_memory`) is not read again; the source is only asked
whether it still has it, and nothing is written if it does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from tidegate.registry.blobs import (
    blob_exists,
    cancel_upload,
    mount_or_start,
    open_blob,
    start_upload,
    upload,
)
from tidegate.registry.errors import InvalidReference, ManifestNotFound, RegistryProtocolError
from tidegate.registry.manifest_io import Manifest, get_manifest, manifest_digest, put_manifest
from tidegate.registry.manifest_memory import MANIFESTS, ManifestMemory
from tidegate.registry.manifests import Descriptor, ManifestFormatError, references
from tidegate.registry.reference import ImageRef
from tidegate.registry.session import Session, error
from tidegate.registry.sightings import SIGHTINGS, BlobSightings

A = TypeVar("A")
B = TypeVar("B")


@dataclass(frozen=True)
class CopyResult:
    """What a copy did: the digest now under the destination tag, its media type, and
    how many blobs were mounted, uploaded (`bytes` in all), or skipped as present.
    `previous` is what the tag named before (None: nothing); a copy told to keep an
    existing tag leaves it naming `previous`, and then `digest` is the source's."""

    digest: str
    media_type: str
    mounted: int = 0
    uploaded: int = 0
    skipped: int = 0
    bytes: int = 0
    previous: str | None = field(default=None, compare=False)


@dataclass
class _Tally:
    mounted: int = 0
    uploaded: int = 0
    skipped: int = 0
    bytes: int = 0
    blobs: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    children: list[asyncio.Future[None]] = field(default_factory=list)


class Copier:
    """One copy of `source` (read through session `src`) to `destination` (written
    through `dst`, which may be `src`). Use once: `await Copier(...).run()`."""

    def __init__(
        self,
        src: Session,
        source: ImageRef,
        dst: Session,
        destination: ImageRef,
        *,
        chunk_size: int,
        concurrency: int,
        on_progress: Callable[[int], None] | None,
        sightings: BlobSightings = SIGHTINGS,
        manifests: ManifestMemory = MANIFESTS,
        keep_existing: bool = False,
        pin_on_read: bool = False,
    ) -> None:
        if not source.digest and not pin_on_read:
            raise InvalidReference(f"copy needs a source pinned to a digest, not {source}")
        if destination.digest and source.digest and destination.digest != source.digest:
            raise error(InvalidReference, destination, f"cannot hold {source.digest}")
        self._src, self._source = src, source
        self._dst, self._destination = dst, destination
        self._chunk_size = chunk_size
        self._blob_slots = asyncio.Semaphore(max(1, concurrency))
        self._manifest_slots = asyncio.Semaphore(max(1, concurrency))
        self._on_progress = on_progress
        self._sightings = sightings
        self._manifests = manifests
        self._keep_existing = keep_existing
        self._tally = _Tally()

    async def run(self) -> CopyResult:
        source, destination = self._source, self._destination
        same_repository = (source.api_host, source.repository) == (
            destination.api_host,
            destination.repository,
        )
        # No tag: by digest alone (ImageRef would fill in `latest`, and move that tag).
        target = (
            ImageRef(destination.registry, destination.repository, destination.tag)
            if destination.tag
            else ImageRef(
                destination.registry,
                destination.repository,
                digest=destination.digest or source.digest,
            )
        )
        # What the tag (or digest) names now is asked alongside the source's manifest,
        # and the blobs move as soon as that manifest is in, without waiting for the
        # answer: when the destination already has the digest, its repository holds
        # every blob, so the checks made meanwhile find them all and move nothing.
        # A manifest known from an earlier read is not fetched again; whether the source
        # still has it is asked instead, and the blobs (the slowest) go out first.
        top = self._manifests.get(source)
        contents: asyncio.Future[None] | None = None
        still: asyncio.Future[str | None] | None = None
        current: asyncio.Future[str | None] | None = None
        # To keep a tag that names something else, nothing moves before it is known.
        eager = not (same_repository or self._keep_existing)
        try:
            if top is not None and eager:
                contents = self._start(top)
            current = asyncio.ensure_future(manifest_digest(self._dst, target))
            if top is not None:
                still = asyncio.ensure_future(manifest_digest(self._src, source))
            else:
                top = await get_manifest(self._src, source)  # the source's failure comes first
                if not source.digest:  # a tag (`pin_on_read`): the bytes read are the copy's
                    self._source = source = source.with_digest(top.digest)
                    if target.digest and target.digest != top.digest:
                        raise error(InvalidReference, destination, f"cannot hold {top.digest}")
                self._manifests.keep(source, top)
                if eager:
                    contents = self._start(top)
            if still is not None and await still is None:
                gone = "manifest not found: gone from the source"
                raise error(ManifestNotFound, source, gone, 404)
            previous = await current
            if previous == top.digest or (previous and self._keep_existing):
                return CopyResult(top.digest, top.media_type, previous=previous)
            if contents is None and not same_repository:
                contents = self._start(top)
            if contents is not None:
                await contents
            await put_manifest(self._dst, target, top.content, top.media_type)
            return replace(self._result(top), previous=previous)
        finally:
            pending: list[asyncio.Future[Any]] = [*self._tally.blobs.values()]
            pending += self._tally.children
            pending += [f for f in (current, contents, still) if f is not None]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _result(self, top: Manifest) -> CopyResult:
        t = self._tally
        return CopyResult(top.digest, top.media_type, t.mounted, t.uploaded, t.skipped, t.bytes)

    def _at(self, ref: ImageRef, digest: str) -> ImageRef:
        return ImageRef(ref.registry, ref.repository, digest=digest)

    async def _present(self, digest: str) -> bool:
        async with self._manifest_slots:
            found = await manifest_digest(self._dst, self._at(self._destination, digest))
        return found is not None

    async def _get(self, digest: str) -> Manifest:
        async with self._manifest_slots:
            return await get_manifest(self._src, self._at(self._source, digest))

    def _start(self, manifest: Manifest) -> asyncio.Future[None]:
        """Start making the destination hold what `manifest` refers to: every child and
        blob copy is under way when this returns (its requests go out next)."""
        try:
            refs = references(manifest.content, manifest.media_type)
        except ManifestFormatError as exc:
            where = self._at(self._source, manifest.digest)
            raise error(RegistryProtocolError, where, f"cannot copy: {exc}") from exc
        children = [asyncio.ensure_future(self._child(d)) for d in refs.manifests]
        self._tally.children += children  # cancelled with the copy, even if never awaited
        return asyncio.ensure_future(_all(children + [self._blob(d) for d in refs.blobs]))

    async def _contents(self, manifest: Manifest) -> None:
        """Make the destination hold what `manifest` refers to."""
        await self._start(manifest)

    async def _child(self, child: Descriptor) -> None:
        present, manifest = await _in_order(self._present(child.digest), self._get(child.digest))
        if present:
            return
        await self._contents(manifest)
        async with self._manifest_slots:
            target = self._at(self._destination, child.digest)
            await put_manifest(self._dst, target, manifest.content, manifest.media_type)

    def _blob(self, blob: Descriptor) -> Awaitable[None]:
        # Platforms share layers: each blob is copied once, whoever asks first.
        task = self._tally.blobs.get(blob.digest)
        if task is None:
            task = asyncio.ensure_future(self._copy_blob(blob))
            self._tally.blobs[blob.digest] = task
        return asyncio.shield(task)

    async def _copy_blob(self, blob: Descriptor) -> None:
        src = self._at(self._source, blob.digest)
        dst = self._at(self._destination, blob.digest)
        async with self._blob_slots:
            location: str | None = None
            # Within a registry the source repository holds the blob; across registries
            # a repository of the destination's may, from an earlier copy.
            origin = (
                src.repository
                if src.api_host == dst.api_host
                else self._sightings.where(dst.api_host, blob.digest, besides=dst.repository)
            )
            if origin is not None:
                location = await mount_or_start(self._dst, dst, origin)
                if location is None:
                    self._tally.mounted += 1
                    self._sightings.seen(dst.api_host, dst.repository, blob.digest)
                    return
                self._sightings.forget(dst.api_host, origin, blob.digest)
            elif await blob_exists(self._dst, dst):
                self._tally.skipped += 1
                self._sightings.seen(dst.api_host, dst.repository, blob.digest)
                return
            first = location

            async def attempt(number: int) -> None:
                await self._stream(src, dst, blob.size, first if number == 1 else None)

            await self._dst.retrying(attempt, f"copy of blob {blob.digest} to {dst.registry}")
            self._tally.uploaded += 1
            self._tally.bytes += blob.size
            self._sightings.seen(dst.api_host, dst.repository, blob.digest)

    async def _stream(self, src: ImageRef, dst: ImageRef, size: int, location: str | None) -> None:
        sent = 0

        def progress(n: int) -> None:
            nonlocal sent
            sent += n
            if self._on_progress is not None:
                self._on_progress(n)

        # The upload is opened while the source starts answering: one round trip, not two.
        starting = None if location else asyncio.ensure_future(start_upload(self._dst, dst))
        try:
            async with open_blob(self._src, src, size) as chunks:
                if starting is not None:
                    location = await starting
                assert location is not None
                await upload(
                    self._dst,
                    dst,
                    location,
                    chunks,
                    size,
                    chunk_size=self._chunk_size,
                    on_progress=progress,
                    checked=True,
                )
        except BaseException as exc:
            if sent and self._on_progress is not None:
                self._on_progress(-sent)  # the bytes of a failed attempt, taken back
            if location is None and starting is not None:
                location = await _settled(starting)
            if location is not None and isinstance(exc, Exception):
                await cancel_upload(self._dst, dst, location)
            raise


async def _settled(task: asyncio.Future[str]) -> str | None:
    """What `task` gave if it finished well; else None, and it is stopped."""
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    if task.cancelled() or task.exception() is not None:
        return None
    return task.result()


async def _in_order(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Both at once; a failure raised is the first one in argument order, so the
    source's (named first) wins over what the destination said meanwhile."""
    a, b = await asyncio.gather(first, second, return_exceptions=True)
    if isinstance(a, BaseException):
        raise a
    if isinstance(b, BaseException):
        raise b
    return a, b


async def _all(awaitables: Iterable[Awaitable[None]]) -> None:
    """Await all; on the first failure cancel the rest, and raise that failure."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
