"""HTTP to registries: one httpx2 client with the auth flow, retries, timeouts, streamed
bodies and redirects, and the translation of answers and failures into our exceptions.

https everywhere except loopback registries and hosts marked insecure (Docker's
defaults). 429 and 5xx are retried with backoff, honouring Retry-After. Redirects are
followed only where a caller asks (blob downloads: storage backends redirect to a CDN or
a signed URL), only to https or to http on loopback or an insecure host, and a hop to
another host goes without our Authorization. With a `Reach`, a request goes out only
for a registry it allows, and every connection (token services and redirects included)
only to addresses it accepts (reach.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from typing import TypeVar

import httpx2

from tidegate import __version__
from tidegate.backoff import jitter, retry_after
from tidegate.registry.answers import what_was_said
from tidegate.registry.auth import RegistryAuth
from tidegate.registry.credentials import Credentials
from tidegate.registry.errors import (
    BlobNotFound,
    ManifestNotFound,
    RegistryAuthError,
    RegistryError,
    RegistryProtocolError,
    RegistryUnreachable,
)
from tidegate.registry.hosts import hostname, is_loopback, scheme_for
from tidegate.registry.manifests import ACCEPT, MAX_MANIFEST_BYTES
from tidegate.registry.reach import Reach
from tidegate.registry.reference import ImageRef
from tidegate.registry.transport import AsyncioTransport
from tidegate.security.tls import verifying_context

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

MAX_REDIRECTS = 5


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: reading the CA bundle costs tens of
    milliseconds — more than a whole retag on a local registry — so it is read once, at
    the first handshake (a plain-HTTP registry never pays it: `tidegate promote`)."""
    return verifying_context()


class Session:
    """The HTTP side of a `RegistryClient`: requests located at an `ImageRef`, so that
    every error names the image (or, for a blob, `repository@blob-digest`)."""

    def __init__(
        self,
        credentials_for: Callable[[str], Credentials | None],
        *,
        timeout: float,
        insecure_hosts: Collection[str],
        attempts: int,
        backoff: float,
        max_delay: float,
        transport: httpx2.AsyncBaseTransport | None,
        sleep: Sleep,
        reach: Reach | None = None,
    ) -> None:
        self.timeout = timeout
        self._reach = reach
        self.attempts = max(1, attempts)
        self._insecure = tuple(insecure_hosts)
        self._backoff = backoff
        self._max_delay = max_delay
        self._sleep = sleep
        self._http = httpx2.AsyncClient(
            auth=RegistryAuth(credentials_for, insecure_hosts=self._insecure),
            # Per phase: for a streamed blob this bounds a stall, not the whole transfer.
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": f"tidegate/{__version__}", "Accept": ACCEPT},
            # Given a transport, httpx2 takes no proxy from the environment and has no
            # use for `verify`: TLS is the transport's.
            transport=transport or AsyncioTransport(tls_context, reach),
        )

    def url(self, ref: ImageRef, tail: str) -> str:
        """`scheme://api-host/v2/<repository>/<tail>`."""
        scheme = scheme_for(ref.registry, self._insecure)
        return f"{scheme}://{ref.api_host}/v2/{ref.repository}/{tail}"

    def allowed(self, url: httpx2.URL) -> bool:
        """Whether we send anything to `url`: https, or http on loopback or an insecure host."""
        if url.userinfo or not url.host:
            return False
        if url.scheme == "https":
            return True
        netloc = url.netloc.decode("ascii")
        insecure = {h.lower() for h in self._insecure}
        return url.scheme == "http" and (
            is_loopback(netloc) or bool({netloc.lower(), hostname(netloc).lower()} & insecure)
        )

    async def request(
        self,
        method: str,
        url: str,
        ref: ImageRef,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[httpx2.Response, bytes]:
        """One request with retries for 429/5xx, its body read (small answers only); the
        last answer is returned as it is, for the caller to judge."""
        for attempt in range(1, self.attempts + 1):
            try:
                response, body = await self._once(method, url, ref, content, headers)
            except RegistryUnreachable as exc:
                if exc.status is None or attempt == self.attempts:
                    raise
                wait = exc.retry_after  # a token service's 429/5xx
            else:
                status = response.status_code
                if not (status == 429 or status >= 500) or attempt == self.attempts:
                    return response, body
                wait = retry_after(response.headers.get("retry-after"))
            await self.pause(attempt, wait, f"{method} {ref}")
        raise AssertionError("unreachable")  # the loop returns or raises

    async def retrying(self, operation: Callable[[int], Awaitable[T]], what: str) -> T:
        """`operation(attempt)` again while it fails with `RegistryUnreachable` (a 429/5xx,
        a timeout, a dropped connection), up to `attempts` times, with backoff."""
        for attempt in range(1, self.attempts + 1):
            try:
                return await operation(attempt)
            except RegistryUnreachable as exc:
                if attempt == self.attempts:
                    raise
                await self.pause(attempt, exc.retry_after, what)
        raise AssertionError("unreachable")

    async def pause(self, attempt: int, wait: float | None, what: str) -> None:
        """The wait before retry `attempt`: Retry-After if given, else jittered backoff."""
        if wait is None:
            wait = jitter(self._backoff, attempt, self._max_delay)
        log.info("%s: busy, retry %d in %.1fs", what, attempt, wait)
        await self._sleep(min(wait, self._max_delay))

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        ref: ImageRef,
        *,
        content: bytes | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = False,
    ) -> AsyncIterator[httpx2.Response]:
        """One attempt (a streamed body cannot be sent twice), the answer's body left for
        the block to read; failures while reading it are translated too."""
        response = await self._open(method, url, ref, content, headers, follow_redirects)
        try:
            yield response
        except (httpx2.HTTPError, httpx2.StreamError) as exc:
            raise self._translated(exc, str(response.url), ref) from exc
        finally:
            await response.aclose()

    async def iter_bytes(self, response: httpx2.Response, ref: ImageRef) -> AsyncIterator[bytes]:
        """The body of a streamed answer, its failures located at `ref`: read inside
        another request's upload, they must not be taken for that request's."""
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        except (httpx2.HTTPError, httpx2.StreamError) as exc:
            raise self._translated(exc, str(response.url), ref) from exc

    async def close(self) -> None:
        await self._http.aclose()

    async def _once(
        self,
        method: str,
        url: str,
        ref: ImageRef,
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> tuple[httpx2.Response, bytes]:
        try:
            # asyncio.timeout bounds the whole exchange, auth included: httpx2's
            # timeouts are per phase.
            async with asyncio.timeout(self.timeout):
                async with self.stream(
                    method, url, ref, content=content, headers=headers
                ) as response:
                    body = await _read_capped(response, ref)
        except TimeoutError as exc:
            where = httpx2.URL(url).netloc.decode("ascii")
            raise error(
                RegistryUnreachable, ref, f"no answer from {where} within {self.timeout:g}s"
            ) from exc
        return response, body

    async def _open(
        self,
        method: str,
        url: str,
        ref: ImageRef,
        content: bytes | AsyncIterable[bytes] | None,
        headers: Mapping[str, str] | None,
        follow_redirects: bool,
    ) -> httpx2.Response:
        if self._reach is not None:
            try:
                self._reach.check_registry(ref.registry)
            except RegistryError as exc:
                raise exc.located(ref.registry, ref.repository, ref.reference) from None
        target = httpx2.URL(url)  # parsed once: a request's own cost adds up in a copy
        origin = target.netloc
        for _ in range(MAX_REDIRECTS + 1):
            on_origin = target.netloc == origin
            request = self._http.build_request(method, target, content=content, headers=headers)
            try:
                if on_origin:
                    response = await self._http.send(request, stream=True)
                else:  # another host gets no Authorization of ours
                    response = await self._http.send(request, stream=True, auth=None)
            except RegistryError as exc:
                if exc.repository:  # from a streamed body: it knows its source
                    raise
                # From the auth flow, which knows only the host.
                raise exc.located(ref.registry, ref.repository, ref.reference) from exc
            except (httpx2.HTTPError, httpx2.StreamError) as exc:
                raise self._translated(exc, url, ref) from exc
            if not (follow_redirects and response.is_redirect):
                return response
            await response.aclose()
            target = self._redirect_target(response, ref)
            url = str(target)
        raise error(RegistryProtocolError, ref, f"more than {MAX_REDIRECTS} redirects")

    def _redirect_target(self, response: httpx2.Response, ref: ImageRef) -> httpx2.URL:
        try:
            target = response.url.join(response.headers.get("location", ""))
        except httpx2.InvalidURL:
            raise error(RegistryProtocolError, ref, "redirect to an invalid URL") from None
        if not self.allowed(target):
            # Scheme and host only: a signed URL's query is a credential.
            shown = f"{target.scheme}://{target.host}"
            raise error(
                RegistryProtocolError,
                ref,
                f"redirect to {shown} refused: only https, or http on loopback or an insecure host",
                response.status_code,
            )
        return target

    def _translated(self, exc: Exception, url: str, ref: ImageRef) -> RegistryError:
        where = _host(exc, url)
        if isinstance(exc, httpx2.TimeoutException):
            message = f"no answer from {where} within {self.timeout:g}s"
            return error(RegistryUnreachable, ref, message)
        if isinstance(exc, httpx2.ConnectError):
            return error(RegistryUnreachable, ref, f"cannot connect to {where}: {exc}")
        if isinstance(exc, httpx2.StreamConsumed):
            # A 401 in the middle of a streamed upload (a token that expired): the auth
            # flow has a new token now, but cannot send the body twice; a retry can.
            return error(RegistryUnreachable, ref, f"{where} asked to authenticate again")
        if isinstance(exc, httpx2.RemoteProtocolError):
            # Not its text: h11 quotes what came back ("illegal status line: b'SSH-2.0…'").
            message = f"connection to {where} failed: it closed, or the answer was not HTTP/1.1"
            return error(RegistryUnreachable, ref, message)
        if isinstance(exc, httpx2.TransportError):
            message = f"connection to {where} failed: {type(exc).__name__}: {exc}"
            return error(RegistryUnreachable, ref, message)
        return error(RegistryProtocolError, ref, f"{type(exc).__name__}: {exc}")


def raise_for_status(
    response: httpx2.Response, body: bytes, ref: ImageRef, thing: str = "manifest"
) -> None:
    """Raise ours for an answer that is not a success; `thing` (manifest, blob, upload)
    says what a 404 did not find."""
    status = response.status_code
    if response.is_success:
        return
    said = what_was_said(response, body)  # known error codes only, never the body's words
    said = f" ({said})" if said else ""
    if status in (401, 403):
        sent = response.request.headers.get("authorization", "").partition(" ")[0].lower()
        how = {"basic": "with credentials", "bearer": "with a token"}.get(sent, "anonymously")
        raise error(RegistryAuthError, ref, f"access denied {how}{said}", status)
    if status == 404:
        kind = {"manifest": ManifestNotFound, "blob": BlobNotFound}.get(thing)
        raise error(kind or RegistryProtocolError, ref, f"{thing} not found{said}", status)
    if status == 429 or status >= 500:
        wait = retry_after(response.headers.get("retry-after"))
        raise error(RegistryUnreachable, ref, f"registry unavailable{said}", status, wait)
    if response.is_redirect:
        raise error(RegistryProtocolError, ref, "redirect not followed", status)
    raise error(RegistryProtocolError, ref, f"unexpected answer{said}", status)


def error(
    kind: type[RegistryError],
    ref: ImageRef,
    message: str,
    status: int | None = None,
    retry_after: float | None = None,
) -> RegistryError:
    """`kind(message)` located at `ref`."""
    if kind is RegistryUnreachable:
        found: RegistryError = RegistryUnreachable(message, status=status, retry_after=retry_after)
    else:
        found = kind(message, status=status)
    return found.located(ref.registry, ref.repository, ref.reference)


async def _read_capped(response: httpx2.Response, ref: ImageRef) -> bytes:
    chunks, total = [], 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > MAX_MANIFEST_BYTES:
            raise error(
                RegistryProtocolError, ref, f"answer larger than {MAX_MANIFEST_BYTES} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _host(exc: BaseException, url: str) -> str:
    """The host that failed: the registry, or the token service the auth flow called."""
    try:
        request = exc.request if isinstance(exc, httpx2.HTTPError) else None
    except RuntimeError:  # no request attached
        request = None
    return (request.url if request else httpx2.URL(url)).netloc.decode("ascii")
