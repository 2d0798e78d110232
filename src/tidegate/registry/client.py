"""The async registry client (OCI distribution API): manifests, blobs, and copies.

https everywhere except loopback registries and hosts marked insecure (Docker's
defaults). 429 and 5xx are retried with backoff, honouring Retry-After; a registry that
does not answer raises `RegistryUnreachable`. Redirects are followed only for blob
downloads, only to https (or http on loopback or an insecure host), and never carry our
Authorization to another host. The HTTP side lives in `session.py`; manifests in
`manifest_io.py`, blobs in `blobs.py`, copies in `copying.py`, and what refers to an
image (signatures, attestations, SBOMs) in `referrers.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType

import httpx2

from tidegate.registry import blobs, manifest_io, tags
from tidegate.registry.blobs import DEFAULT_CHUNK_SIZE
from tidegate.registry.copying import Copier, CopyResult
from tidegate.registry.credentials import Credentials, CredentialStore
from tidegate.registry.errors import InvalidReference
from tidegate.registry.manifest_io import Manifest, Resolved
from tidegate.registry.manifest_memory import MANIFESTS, ManifestMemory
from tidegate.registry.reach import Reach
from tidegate.registry.reference import ImageRef
from tidegate.registry.referrers import Carried, Carrier
from tidegate.registry.session import Session
from tidegate.registry.settings import RegistrySettings
from tidegate.registry.sightings import SIGHTINGS, BlobSightings

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Carried",
    "CopyResult",
    "Manifest",
    "RegistryClient",
    "Resolved",
]

# The backoff's sleep: a seam so tests can observe the waits without waiting.
_sleep = asyncio.sleep


async def _backoff_sleep(delay: float) -> None:
    await _sleep(delay)  # looked up at each call, so the seam can be patched


class RegistryClient:
    """Talks to any number of registries; `credentials_for(registry)` supplies logins
    (a `CredentialStore` fits). Use as `async with`, or call `close()`.

    `timeout` bounds a whole manifest exchange, and each phase (connect, a read, a
    write) of a blob transfer. Blobs up to `chunk_size` bytes are uploaded in one PUT,
    larger ones in PATCHes of `chunk_size`; a copy moves up to `concurrency` blobs at once.
    `sightings` remembers which repositories hold which blobs, so a later copy into the
    same registry mounts instead of uploading; `manifests` keeps manifests read by
    digest, so a later copy of the same image only checks that the source still has it
    (one memory of each per process by default). `reach` decides which hosts and
    addresses may be contacted (None: any; Tidegate's own clients always pass one).
    """

    def __init__(
        self,
        credentials_for: Callable[[str], Credentials | None],
        *,
        timeout: float = 30,
        insecure_hosts: Collection[str] = (),
        attempts: int = 3,
        backoff: float = 0.5,
        max_delay: float = 30.0,
        transport: httpx2.AsyncBaseTransport | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        concurrency: int = 4,
        sightings: BlobSightings = SIGHTINGS,
        manifests: ManifestMemory = MANIFESTS,
        reach: Reach | None = None,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self._session = Session(
            credentials_for,
            timeout=timeout,
            insecure_hosts=insecure_hosts,
            attempts=attempts,
            backoff=backoff,
            max_delay=max_delay,
            transport=transport,
            sleep=_backoff_sleep,
            reach=reach,
        )
        self._chunk_size = chunk_size
        self._concurrency = concurrency
        self._sightings = sightings
        self._manifests = manifests
        self._reach = reach

    @classmethod
    def from_settings(
        cls,
        settings: RegistrySettings,
        credentials_for: Callable[[str], Credentials | None] | None = None,
        *,
        bound: Sequence[str] = (),
    ) -> RegistryClient:
        """Tidegate's own client: the registry allow-list (`registry_allowed_hosts`, and
        `bound`, the registries of the hook an event came in on), plain HTTP for
        `insecure_registries`, `outbound_timeout`, and the logins of `docker_config` and
        `registry_logins` unless `credentials_for` (a process's shared store) is given."""
        return cls(
            credentials_for or CredentialStore(settings.docker_config, settings.logins()),
            timeout=settings.outbound_timeout,
            insecure_hosts=settings.insecure_registries,
            reach=Reach.from_settings(settings, bound=bound),
        )

    def check_reach(self, *refs: ImageRef) -> None:
        """Raise `RegistryRefused` for the first of `refs` whose registry this client may
        not contact: before any request, so a refusal costs none and names that one."""
        if self._reach is not None:
            for ref in refs:
                self._reach.check_registry(ref.registry)

    # Manifests

    async def resolve(self, ref: ImageRef) -> Resolved:
        """The digest, media type and size `ref` names now (a HEAD when the registry
        answers it fully, else a GET whose bytes are hashed)."""
        return await manifest_io.resolve(self._session, ref)

    async def get_manifest(self, ref: ImageRef) -> Manifest:
        """The manifest's exact bytes; for a digest reference, checked against the digest."""
        return await manifest_io.get_manifest(self._session, ref)

    async def exists(self, ref: ImageRef) -> str | None:
        """The digest `ref` (a tag or a digest) names at its registry, or None (a HEAD)."""
        return await manifest_io.manifest_digest(self._session, ref)

    async def list_tags(self, repo: ImageRef, page_size: int = tags.PAGE_SIZE) -> list[str]:
        """Every tag of `repo`'s repository (`tags/list`, following `Link` pages); none
        when the registry does not know the repository."""
        return await tags.list_tags(self._session, repo, page_size)

    async def put_manifest(self, ref: ImageRef, content: bytes, media_type: str) -> str:
        """Store `content`, byte for byte, under `ref`'s tag (or by digest if it has no
        tag); returns its digest. The blobs and child manifests it names must be there."""
        return await manifest_io.put_manifest(self._session, ref, content, media_type)

    # Blobs: `ref` is `registry/repository@<blob digest>`

    async def blob_exists(self, ref: ImageRef) -> bool:
        """Whether `ref`'s repository holds blob `ref.digest` (a HEAD)."""
        return await blobs.blob_exists(self._session, _blob_ref(ref))

    def open_blob(
        self, ref: ImageRef, size: int | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """`async with client.open_blob(ref) as chunks: async for chunk in chunks: …` —
        streamed, following a redirect to storage; reading raises `RegistryProtocolError`
        when the bytes are not `size` long (if given) or do not hash to the digest."""
        return blobs.open_blob(self._session, _blob_ref(ref), size)

    async def push_blob(
        self,
        ref: ImageRef,
        chunks: AsyncIterable[bytes],
        size: int,
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Upload blob `ref.digest` from `chunks` (`size` bytes, checked against the
        digest before the registry gets the last of them). One attempt: a stream cannot
        be sent twice. `on_progress(n)` follows the bytes sent."""
        ref = _blob_ref(ref)
        location = await blobs.start_upload(self._session, ref)
        try:
            await blobs.upload(
                self._session,
                ref,
                location,
                chunks,
                size,
                chunk_size=self._chunk_size,
                on_progress=on_progress,
            )
        except Exception:
            await blobs.cancel_upload(self._session, ref, location)
            raise

    async def mount_blob(self, ref: ImageRef, from_repository: str) -> bool:
        """Mount blob `ref.digest` into `ref`'s repository from another repository of the
        same registry; False when the registry would not (then nothing changed)."""
        return await blobs.mount_blob(self._session, _blob_ref(ref), from_repository)

    # Copies

    async def copy(
        self,
        source: ImageRef,
        destination: ImageRef,
        *,
        all_platforms: bool = True,
        on_progress: Callable[[int], None] | None = None,
        destination_client: RegistryClient | None = None,
        keep_existing: bool = False,
        pin_on_read: bool = False,
    ) -> CopyResult:
        """Copy the image `source` (pinned to a digest) to `destination` (a tag; or
        `repository@digest`, which writes no tag), its digest preserved: a retag within a
        repository, blob mounts within a registry, streamed blobs across registries
        (through `destination_client` when given: its credentials, settings and chunk
        size). What the destination has is skipped, and a tag already naming the digest
        is left as it is, so a repeat copies nothing.

        An index or manifest list is copied whole, every platform, whatever
        `all_platforms` says: a partial index would have another digest, and a copy
        keeps the digest that was tested and approved.

        `on_progress(n)` is called with the blob bytes sent since its last call; a failed
        attempt that is retried is taken back with a negative `n`. `keep_existing`: a
        tag naming another digest is left alone, and nothing is copied (see `previous`).
        `pin_on_read`: `source` may be a tag; the manifest it names is read once, and
        exactly those bytes are copied (their digest is the result's `digest`), while
        the destination is asked what it holds.
        """
        del all_platforms  # accepted for callers that expose the choice; see above
        target = destination_client or self
        copier = Copier(
            self._session,
            source,
            target._session,
            destination,
            chunk_size=target._chunk_size,
            concurrency=self._concurrency,
            on_progress=on_progress,
            sightings=self._sightings,
            manifests=self._manifests,
            keep_existing=keep_existing,
            pin_on_read=pin_on_read,
        )
        return await copier.run()

    async def copy_referrers(
        self,
        source: ImageRef,
        destination: ImageRef,
        *,
        destination_client: RegistryClient | None = None,
    ) -> Carried:
        """Carry the signatures, attestations and SBOMs of `source` (pinned to a digest)
        to `destination`'s repository: the manifests that refer to it (the OCI referrers
        API, else its `sha256-<hex>` fallback tag), copied by digest, and cosign's tags
        `sha256-<hex>.sig`, `.att` and `.sbom`, copied under the same names. Where the
        destination registry lacks the referrers API, its fallback tag's index is
        brought up to date. They stay valid because a copy keeps the digest. What the
        destination holds already is left alone, so a repeat writes nothing.
        """
        if not source.digest:
            raise InvalidReference(f"copy needs a source pinned to a digest, not {source}")
        target = destination_client or self

        async def copy(src: ImageRef, dst: ImageRef) -> CopyResult:
            return await self.copy(src, dst, destination_client=target)

        return await Carrier(self._session, source, target._session, destination, copy).run()

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _blob_ref(ref: ImageRef) -> ImageRef:
    if not ref.digest:
        raise InvalidReference(f"a blob is named by its digest: {ref} has none")
    return ref
