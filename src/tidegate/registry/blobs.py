"""Blobs over HTTP: check (HEAD), read (a streamed GET that follows a redirect to storage),
write (POST an upload, then one PUT, or PATCH chunks and a closing PUT), and mount from
another repository of the same registry.

Bytes stream through: a blob is never held in memory. Its size and digest are checked
on the way, and the last piece is held back until they check out, so a registry never
receives all of a blob whose bytes are wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from urllib.parse import urlencode

import httpx2

from tidegate.registry.errors import RegistryError, RegistryProtocolError
from tidegate.registry.manifest_io import valid_digest
from tidegate.registry.reference import ImageRef
from tidegate.registry.session import Session, error, raise_for_status

DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
OCTET_STREAM = "application/octet-stream"

Progress = Callable[[int], None]


async def blob_exists(session: Session, ref: ImageRef) -> bool:
    """Whether the repository of `ref` holds the blob `ref.digest`."""
    response, body = await session.request("HEAD", _url(session, ref), ref)
    if response.status_code == 404:
        return False
    if response.is_redirect:  # to storage: the registry has it
        return True
    raise_for_status(response, body, ref, "blob")
    return True


@asynccontextmanager
async def open_blob(
    session: Session, ref: ImageRef, size: int | None = None
) -> AsyncIterator[AsyncIterator[bytes]]:
    """The bytes of blob `ref.digest`, streamed, to be read inside the block (one
    attempt: a 429/5xx raises `RegistryUnreachable`). Reading raises
    `RegistryProtocolError` when they are not `size` bytes (if given) or do not hash to
    the digest."""
    async with session.stream("GET", _url(session, ref), ref, follow_redirects=True) as response:
        if not response.is_success:
            body = await response.aread()
            raise_for_status(response, body, ref, "blob")
        length = response.headers.get("content-length", "")
        if size is not None and length.isdigit() and int(length) != size:
            raise error(
                RegistryProtocolError, ref, f"blob is {length} bytes; its manifest says {size}"
            )
        yield verified(session.iter_bytes(response, ref), ref, size)


async def verified(
    chunks: AsyncIterable[bytes], ref: ImageRef, size: int | None = None
) -> AsyncIterator[bytes]:
    """`chunks` passed on, the last one only once their size and digest check out."""
    algorithm, _, expected = ref.digest.partition(":")
    hasher = hashlib.new(algorithm)
    total, held = 0, b""
    async for chunk in chunks:
        if not chunk:
            continue
        total += len(chunk)
        if size is not None and total > size:
            raise error(RegistryProtocolError, ref, f"blob longer than the {size} bytes expected")
        hasher.update(chunk)
        if held:
            yield held
        held = chunk
    if size is not None and total != size:
        raise error(RegistryProtocolError, ref, f"blob is {total} bytes, not {size}")
    if hasher.hexdigest() != expected:
        got = f"{algorithm}:{hasher.hexdigest()}"
        raise error(RegistryProtocolError, ref, f"blob bytes hash to {got}")
    if held:
        yield held


async def start_upload(session: Session, ref: ImageRef) -> str:
    """Start an upload of blob `ref.digest` into `ref`'s repository: the upload's URL."""
    response, body = await session.request("POST", _url(session, ref, "uploads/"), ref)
    _expect(response, body, ref, 202)
    return _location(session, response, ref)


async def mount_or_start(session: Session, ref: ImageRef, from_repository: str) -> str | None:
    """Mount blob `ref.digest` into `ref`'s repository from `from_repository` (same
    registry): None when mounted, else the URL of an upload to send it to instead."""
    query = urlencode({"mount": ref.digest, "from": from_repository})
    response, body = await session.request("POST", f"{_url(session, ref, 'uploads/')}?{query}", ref)
    if response.status_code == 201:
        return None
    if response.status_code == 202:  # not mountable: the registry opened an upload
        return _location(session, response, ref)
    if response.is_success or response.status_code == 429 or response.status_code >= 500:
        _expect(response, body, ref, 202)
    # Another 4xx: no pull access on the source, or no mounts here; upload instead.
    return await start_upload(session, ref)


async def upload(
    session: Session,
    ref: ImageRef,
    location: str,
    chunks: AsyncIterable[bytes],
    size: int,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Progress | None = None,
    checked: bool = False,
) -> None:
    """Send blob `ref.digest` (`size` bytes from `chunks`) to an upload started at
    `location`: one PUT up to `chunk_size` bytes, else PATCHes of `chunk_size` bytes and a
    closing PUT. One attempt: a stream cannot be sent twice. `checked`: `chunks` come
    through `verified` already (as `open_blob`'s do), so they are not hashed twice."""
    body = chunks if checked else verified(chunks, ref, size)
    if size <= chunk_size:
        headers = {"Content-Type": OCTET_STREAM, "Content-Length": str(size)}
        url = _with_digest(location, ref.digest)
        content = _metered(body, on_progress)
        async with session.stream("PUT", url, ref, content=content, headers=headers) as response:
            answer = await response.aread()
        _stored(response, answer, ref)
        return
    pieces, offset = _Pieces(body), 0
    while offset < size:
        length = min(chunk_size, size - offset)
        headers = {
            "Content-Type": OCTET_STREAM,
            "Content-Length": str(length),
            "Content-Range": f"{offset}-{offset + length - 1}",  # distribution's form: no unit
        }
        content = _metered(pieces.take(length), on_progress)
        async with session.stream(
            "PATCH", location, ref, content=content, headers=headers
        ) as response:
            answer = await response.aread()
        _expect(response, answer, ref, 202)
        location = _location(session, response, ref)
        offset += length
    response, answer = await session.request("PUT", _with_digest(location, ref.digest), ref)
    _stored(response, answer, ref)


async def cancel_upload(session: Session, ref: ImageRef, location: str) -> None:
    """Best effort: tell the registry an upload is abandoned (it would purge it anyway)."""
    with suppress(RegistryError):
        await session.request("DELETE", location, ref)


async def mount_blob(session: Session, ref: ImageRef, from_repository: str) -> bool:
    """Mount blob `ref.digest` from `from_repository`; False when the registry would not."""
    location = await mount_or_start(session, ref, from_repository)
    if location is None:
        return True
    await cancel_upload(session, ref, location)
    return False


class _Pieces:
    """A stream taken in runs of n bytes; a piece is split where a run ends."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = aiter(chunks)
        self._rest = b""

    async def take(self, n: int) -> AsyncIterator[bytes]:
        while n > 0:
            if self._rest:
                piece, self._rest = self._rest, b""
            else:
                try:
                    piece = await anext(self._chunks)
                except StopAsyncIteration:
                    return
            if len(piece) > n:
                piece, self._rest = piece[:n], piece[n:]
            n -= len(piece)
            yield piece


async def _metered(
    chunks: AsyncIterable[bytes], on_progress: Progress | None
) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk
        if on_progress is not None:
            on_progress(len(chunk))  # after httpx2 took it: sent, as far as we can tell


def _url(session: Session, ref: ImageRef, tail: str = "") -> str:
    return session.url(ref, f"blobs/{tail or ref.digest}")


def _with_digest(location: str, digest: str) -> str:
    return str(httpx2.URL(location).copy_merge_params({"digest": digest}))


def _location(session: Session, response: httpx2.Response, ref: ImageRef) -> str:
    """Where the upload goes on: every answer names the URL of its next step."""
    location = response.headers.get("location", "")
    try:
        url = response.url.join(location) if location else None
    except httpx2.InvalidURL:
        url = None
    if url is None or not session.allowed(url):
        shown = f"{url.scheme}://{url.host}" if url is not None else "no valid URL"
        raise error(
            RegistryProtocolError, ref, f"upload location refused: {shown}", response.status_code
        )
    return str(url)


def _expect(response: httpx2.Response, body: bytes, ref: ImageRef, status: int) -> None:
    raise_for_status(response, body, ref, "upload")
    if response.status_code != status:
        raise error(RegistryProtocolError, ref, "unexpected answer", response.status_code)


def _stored(response: httpx2.Response, body: bytes, ref: ImageRef) -> None:
    _expect(response, body, ref, 201)
    said = response.headers.get("docker-content-digest", "")
    if said and said != ref.digest:
        shown = said if valid_digest(said) else "an invalid digest"  # a header: not quoted
        raise error(RegistryProtocolError, ref, f"stored as {shown}, not {ref.digest}")
