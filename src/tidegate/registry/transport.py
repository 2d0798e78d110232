"""HTTP/1.1 for the registry client: h11 on network.py's asyncio streams, with kept-alive
connections reused per origin.

httpx2's own transport runs on httpcore2, whose pool takes its locks and events from
anyio: importing anyio's asyncio backend alone was a third of a `tidegate promote`
retag's work on a local registry (bench/cli.py). The registry client needs little of
it: HTTP/1.1, keep-alive, TLS, per-phase timeouts, no proxies. h11, which httpcore2
uses for the same, frames the messages; every connection comes from `AsyncioBackend`,
so the address policy judges each one.

A request holds its connection until its answer's body has been read to the end (the
connection then waits for the next request to its origin) or closed early (the
connection is closed: what is left unread would be taken for the next answer).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Callable

import h11
import httpx2

from tidegate.registry.network import AddressPolicy, AsyncioBackend, AsyncioStream

# As httpx2's own defaults: requests in flight (each holds a connection), connections
# kept alive, and how long an unused one is kept.
MAX_IN_FLIGHT = 100
MAX_IDLE = 20
KEEPALIVE_EXPIRY = 5.0
READ_BYTES = 64 * 1024
COALESCE_BYTES = 16 * 1024
MAX_HEAD_BYTES = 100 * 1024  # as httpcore2 tells h11: an answer's head beyond it is refused

Origin = tuple[bytes, bytes, int]
_PORTS = {b"http": 80, b"https": 443}


class AsyncioTransport(httpx2.AsyncBaseTransport):
    """httpx2's transport for the registry client: HTTP/1.1 with `ssl_context` (or the
    one it makes, at the first TLS connection: even an empty context costs ~1 ms, which
    a plain-HTTP registry on loopback need not pay), TCP connections only where `policy`
    allows (None: anywhere). Proxies from the environment are not used: every request
    goes through the policy."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | Callable[[], ssl.SSLContext],
        policy: AddressPolicy | None = None,
    ) -> None:
        self._ssl = ssl_context
        self._backend = AsyncioBackend(policy)
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._idle: list[_Connection] = []
        self._closed = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeouts = request.extensions.get("timeout", {})
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx2.PoolTimeout("no connection was free in time") from exc
        connection = None
        try:
            url = request.url
            origin = (url.raw_scheme, url.raw_host, url.port or _PORTS.get(url.raw_scheme, 80))
            connection = self._take_idle(origin) or await self._connect(origin, timeouts)
            head = await connection.exchange(request, timeouts.get("write"), timeouts.get("read"))
        except BaseException:
            if connection is not None:
                connection.close()
            self._slots.release()
            raise
        return httpx2.Response(
            status_code=head.status_code,
            headers=head.headers.raw_items(),
            stream=_Body(self, connection, timeouts.get("read")),
            extensions={
                "http_version": b"HTTP/" + head.http_version,
                "reason_phrase": head.reason,
                "network_stream": connection.stream,
            },
        )

    async def aclose(self) -> None:
        self._closed = True
        for connection in self._idle:
            connection.close()
        self._idle = []

    async def _connect(self, origin: Origin, timeouts: dict[str, float | None]) -> _Connection:
        scheme, host, port = origin
        name = host.decode("ascii")
        stream = await self._backend.connect_tcp(name, port, timeouts.get("connect"))
        if scheme == b"https":
            if not isinstance(self._ssl, ssl.SSLContext):
                self._ssl = self._ssl()
            try:
                stream = await stream.start_tls(self._ssl, name, timeouts.get("connect"))
            except BaseException:
                stream.close()
                raise
        return _Connection(stream, origin)

    def _take_idle(self, origin: Origin) -> _Connection | None:
        """The most recently used live connection to `origin`; connections that expired
        or that the server closed (or spoke on out of turn) are dropped on the way."""
        now = time.monotonic()
        found: _Connection | None = None
        kept: list[_Connection] = []
        for connection in reversed(self._idle):
            expired = now - connection.idle_since > KEEPALIVE_EXPIRY
            if expired or connection.stream.get_extra_info("is_readable"):
                connection.close()
            elif found is None and connection.origin == origin:
                found = connection
            else:
                kept.append(connection)
        kept.reverse()
        self._idle = kept
        return found

    def release(self, connection: _Connection) -> None:
        """A request is done with `connection`: kept for the next if its exchange ended
        cleanly, closed otherwise."""
        self._slots.release()
        if not self._closed and len(self._idle) < MAX_IDLE and connection.next_cycle():
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()


class _Connection:
    """One HTTP/1.1 connection: h11's state of it, over one stream."""

    def __init__(self, stream: AsyncioStream, origin: Origin) -> None:
        self.stream = stream
        self.origin = origin
        self.idle_since = 0.0
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)

    async def exchange(
        self, request: httpx2.Request, write: float | None, read: float | None
    ) -> h11.Response:
        """Send `request`, then read the head of its answer. (A server that answers
        before taking the whole body and hangs up resets the connection, and asyncio's
        reader then raises rather than give up the answer it holds: the failed write is
        what the caller gets, as it was under httpcore2 on these streams.)"""
        await self._send(request, write)
        return await self._head(read)

    async def _send(self, request: httpx2.Request, timeout: float | None) -> None:
        # Small pieces go out together: a request's head, a small body and the end of
        # the message in one write (one segment), larger chunks as they come.
        pending = self._encode(
            h11.Request(
                method=request.method, target=request.url.raw_path, headers=request.headers.raw
            )
        )
        assert isinstance(request.stream, httpx2.AsyncByteStream)
        async for chunk in request.stream:
            data = self._encode(h11.Data(data=chunk)) if chunk else b""
            if len(pending) + len(data) <= COALESCE_BYTES:
                pending += data
                continue
            await self.stream.write(pending, timeout)  # nothing is sent for b""
            await self.stream.write(data, timeout)
            pending = b""
        await self.stream.write(pending + self._encode(h11.EndOfMessage()), timeout)

    def _encode(self, event: h11.Event) -> bytes:
        try:
            return self._h11.send(event) or b""
        except h11.LocalProtocolError as exc:  # a header value with a line break, say
            raise httpx2.LocalProtocolError(str(exc)) from exc

    async def _head(self, timeout: float | None) -> h11.Response:
        while True:
            event = await self.next_event(timeout)
            if isinstance(event, h11.Response):
                return event
            if not isinstance(event, h11.InformationalResponse):  # 1xx: the answer follows
                raise httpx2.RemoteProtocolError("the server closed the connection")

    async def next_event(self, timeout: float | None) -> h11.Event:
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx2.RemoteProtocolError(str(exc)) from exc
            if event is h11.PAUSED:  # only after an answer ends, which no caller reads past
                raise httpx2.RemoteProtocolError("the server sent more than one answer")
            if event is not h11.NEED_DATA:
                assert isinstance(event, h11.Event)
                return event
            data = await self.stream.read(READ_BYTES, timeout)
            if not data and self._h11.their_state is h11.SEND_RESPONSE:
                raise httpx2.RemoteProtocolError("Server disconnected without sending a response.")
            self._h11.receive_data(data)

    def next_cycle(self) -> bool:
        """Ready the connection for another request; False if it cannot take one (the
        exchange did not end cleanly, or either side said it would close)."""
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            return True
        return False

    def close(self) -> None:
        self.stream.close()


class _Body(httpx2.AsyncByteStream):
    """An answer's body, read from its connection; closing it releases the connection."""

    def __init__(
        self, transport: AsyncioTransport, connection: _Connection, timeout: float | None
    ) -> None:
        self._transport = transport
        self._connection: _Connection | None = connection
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            raise httpx2.StreamClosed()
        while True:
            event = await connection.next_event(self._timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            else:
                raise httpx2.RemoteProtocolError("the server closed the connection mid-answer")

    async def aclose(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._transport.release(connection)
