"""The async registry client (OCI distribution API): resolve a tag, read a manifest.

https everywhere except loopback registries and hosts marked insecure (Docker's
defaults). 429 and 5xx are retried with backoff, honouring Retry-After; a registry that
does not answer raises `RegistryUnreachable`. Redirects are not followed: manifests are
served in place, and a redirect could carry our Authorization elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple

import httpx2

from tidegate import __version__
from tidegate.registry.answers import retry_after, what_was_said
from tidegate.registry.auth import RegistryAuth
from tidegate.registry.credentials import Credentials
from tidegate.registry.errors import (
    InvalidReference,
    ManifestNotFound,
    RegistryAuthError,
    RegistryError,
    RegistryProtocolError,
    RegistryUnreachable,
)
from tidegate.registry.hosts import scheme_for
from tidegate.registry.manifests import (
    ACCEPT,
    MAX_MANIFEST_BYTES,
    ManifestFormatError,
    digest_of,
    media_type_of,
)
from tidegate.registry.reference import ImageRef, check_digest

log = logging.getLogger(__name__)

# The backoff's sleep: a seam so tests can observe the waits without waiting.
_sleep = asyncio.sleep


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


class RegistryClient:
    """Talks to any number of registries; `credentials_for(registry)` supplies logins
    (a `CredentialStore` fits). Use as `async with`, or call `close()`."""

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
    ) -> None:
        self._timeout = timeout
        self._insecure = tuple(insecure_hosts)
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._max_delay = max_delay
        self._http = httpx2.AsyncClient(
            auth=RegistryAuth(credentials_for, insecure_hosts=self._insecure),
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": f"tidegate/{__version__}", "Accept": ACCEPT},
            transport=transport,
        )

    async def resolve(self, ref: ImageRef) -> Resolved:
        """The digest, media type and size `ref` names now (a HEAD when the registry
        answers it fully, else a GET whose bytes are hashed)."""
        response, _ = await self._fetch("HEAD", ref)
        digest = response.headers.get("docker-content-digest", "")
        media_type = media_type_of(response.headers.get("content-type"), b"")
        size = response.headers.get("content-length", "")
        if response.status_code == 429 or response.status_code >= 500:
            _raise_for_status(response, b"", ref)  # retried already: a GET would not fare better
        if response.is_success and _valid_digest(digest) and media_type and size.isdigit():
            if ref.digest and digest != ref.digest:
                raise _mismatch(ref, digest)
            return Resolved(digest, media_type, int(size))
        # No digest header, or an error a HEAD cannot explain (it has no body).
        manifest = await self.get_manifest(ref)
        return Resolved(manifest.digest, manifest.media_type, len(manifest.content))

    async def get_manifest(self, ref: ImageRef) -> Manifest:
        """The manifest's exact bytes; for a digest reference, checked against the digest."""
        response, body = await self._fetch("GET", ref)
        _raise_for_status(response, body, ref)
        media_type = media_type_of(response.headers.get("content-type"), body)
        algorithm = ref.digest.partition(":")[0] if ref.digest else "sha256"
        try:
            digest = digest_of(body, media_type, algorithm)
        except ManifestFormatError as exc:
            raise _error(RegistryProtocolError, ref, str(exc)) from exc
        if ref.digest and digest != ref.digest:
            raise _mismatch(ref, digest)
        said = response.headers.get("docker-content-digest", "")
        if said.startswith(f"{algorithm}:") and said != digest:
            raise _error(
                RegistryProtocolError,
                ref,
                f"Docker-Content-Digest {said} but the bytes are {digest}",
            )
        return Manifest(body, media_type, digest)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _fetch(self, method: str, ref: ImageRef) -> tuple[httpx2.Response, bytes]:
        """One request with retries for 429/5xx; the last answer is returned as it is."""
        scheme = scheme_for(ref.registry, self._insecure)
        url = f"{scheme}://{ref.api_host}/v2/{ref.repository}/manifests/{ref.reference}"
        for attempt in range(1, self._attempts + 1):
            try:
                response, body = await self._once(method, url, ref)
            except RegistryUnreachable as exc:
                if exc.status is None or attempt == self._attempts:
                    raise
                wait = exc.retry_after  # a token service's 429/5xx
            else:
                status = response.status_code
                if not (status == 429 or status >= 500) or attempt == self._attempts:
                    return response, body
                wait = retry_after(response.headers.get("retry-after"))
            if wait is None:
                wait = _jitter(self._backoff, attempt, self._max_delay)
            log.info("%s %s: busy, retry %d in %.1fs", method, ref, attempt, wait)
            await _sleep(min(wait, self._max_delay))
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _once(self, method: str, url: str, ref: ImageRef) -> tuple[httpx2.Response, bytes]:
        try:
            # asyncio.timeout bounds the whole exchange, auth included: httpx2's
            # timeouts are per phase.
            async with asyncio.timeout(self._timeout):
                async with self._http.stream(method, url) as response:
                    body = await _read_capped(response, ref)
        except RegistryError as exc:  # from the auth flow, which knows only the host
            raise exc.located(ref.registry, ref.repository, ref.reference) from exc
        except (httpx2.TimeoutException, TimeoutError) as exc:
            where = _host(exc, url)
            raise _error(
                RegistryUnreachable, ref, f"no answer from {where} within {self._timeout:g}s"
            ) from exc
        except httpx2.TransportError as exc:
            where = _host(exc, url)
            raise _error(RegistryUnreachable, ref, f"cannot connect to {where}: {exc}") from exc
        except httpx2.HTTPError as exc:
            raise _error(RegistryProtocolError, ref, f"{type(exc).__name__}: {exc}") from exc
        return response, body


async def _read_capped(response: httpx2.Response, ref: ImageRef) -> bytes:
    chunks, total = [], 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > MAX_MANIFEST_BYTES:
            raise _error(
                RegistryProtocolError, ref, f"answer larger than {MAX_MANIFEST_BYTES} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _raise_for_status(response: httpx2.Response, body: bytes, ref: ImageRef) -> None:
    status = response.status_code
    if response.is_success:
        return
    said = what_was_said(response, body)
    said = f": {said}" if said else ""
    if status in (401, 403):
        sent = response.request.headers.get("authorization", "").partition(" ")[0].lower()
        how = {"basic": "with credentials", "bearer": "with a token"}.get(sent, "anonymously")
        raise _error(RegistryAuthError, ref, f"access denied ({how}){said}", status)
    if status == 404:
        raise _error(ManifestNotFound, ref, f"manifest not found{said}", status)
    if status == 429 or status >= 500:
        raise _error(RegistryUnreachable, ref, f"registry unavailable{said}", status)
    if response.is_redirect:
        raise _error(RegistryProtocolError, ref, "redirect not followed", status)
    raise _error(RegistryProtocolError, ref, f"unexpected answer{said}", status)


def _error(
    kind: type[RegistryError], ref: ImageRef, message: str, status: int | None = None
) -> RegistryError:
    error = kind(message, status=status)
    return error.located(ref.registry, ref.repository, ref.reference)


def _mismatch(ref: ImageRef, digest: str) -> RegistryError:
    return _error(RegistryProtocolError, ref, f"the registry served {digest} for {ref.digest}")


def _host(exc: BaseException, url: str) -> str:
    """The host that failed: the registry, or the token service the auth flow called."""
    try:
        request = exc.request if isinstance(exc, httpx2.HTTPError) else None
    except RuntimeError:  # no request attached
        request = None
    return (request.url if request else httpx2.URL(url)).netloc.decode("ascii")


def _valid_digest(digest: str) -> bool:
    try:
        check_digest(digest)
    except InvalidReference:
        return False
    return True


def _jitter(backoff: float, attempt: int, max_delay: float) -> float:
    # "Equal jitter": half fixed, half random, so many clients' retries spread out.
    base = min(max_delay, backoff * 2.0 ** (attempt - 1))
    return base / 2 + random.uniform(0, base / 2)
