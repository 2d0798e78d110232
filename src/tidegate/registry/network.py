"""The network under registry HTTP: httpcore2's connections on plain asyncio streams.

httpcore2 goes through anyio by default, which wraps every connect, read and write in a
cancel scope and connects through a task group. A copy opens several connections at
once and makes a handful of small requests, so that wrapping was a quarter of its CPU
time on a local registry (bench/promote.py). asyncio's own streams do the same work
with less around it. Timeouts and failures are raised as httpcore2's exceptions, which
httpx2 turns into its own, as it does for anyio's.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import Awaitable, Iterable
from typing import Any

import httpcore2
import httpx2
from httpcore2 import SOCKET_OPTION, AsyncNetworkBackend, AsyncNetworkStream

# As RFC 8305 suggests, and as anyio does: IPv6 first, IPv4 250 ms later if need be.
HAPPY_EYEBALLS_DELAY = 0.25


class AsyncioStream(AsyncNetworkStream):
    """One connection: an asyncio reader and writer, plain or upgraded to TLS."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:  # before OSError, of which it is a kind
            raise httpcore2.ReadTimeout(str(exc) or "read timed out") from exc
        except OSError as exc:
            raise httpcore2.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore2.WriteTimeout(str(exc) or "write timed out") from exc
        except OSError as exc:
            raise httpcore2.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        # Not waiting for the close: a peer that never acknowledges a TLS close must not
        # hold up the request that is done with this connection.
        self._writer.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except OSError as exc:  # ssl.SSLError included: an untrusted certificate, say
            raise httpcore2.ConnectError(str(exc)) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":
            # An idle pooled connection with something to read has been closed (or
            # spoken to out of turn) by the server: httpcore2 then drops it.
            return self._reader.at_eof() or _readable(self._writer.get_extra_info("socket"))
        return None


class AsyncioBackend(AsyncNetworkBackend):
    """httpcore2's network backend on asyncio streams (TCP and Unix sockets)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        opening = asyncio.open_connection(
            host,
            port,
            local_addr=(local_address, 0) if local_address else None,
            happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
        )
        stream = await _connected(opening, timeout, f"{host}:{port}", socket_options)
        sock = stream.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small requests go at once
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        opening = asyncio.open_unix_connection(path)
        return await _connected(opening, timeout, path, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioTransport(httpx2.AsyncHTTPTransport):
    """httpx2's HTTP transport (HTTP/1.1, the given TLS context), its connection pool
    on `AsyncioBackend`. Proxies from the environment keep httpx2's own transports."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context)
        limits = httpx2.Limits()  # httpx2's defaults, as the pool replaced had them
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncioBackend(),
        )


async def _connected(
    opening: Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    timeout: float | None,
    where: str,
    socket_options: Iterable[SOCKET_OPTION] | None,
) -> AsyncioStream:
    """The stream `opening` connects, its failures as httpcore2's, `socket_options` set."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await opening
    except TimeoutError as exc:
        raise httpcore2.ConnectTimeout(str(exc) or f"connect to {where} timed out") from exc
    except OSError as exc:
        raise httpcore2.ConnectError(str(exc)) from exc
    for option in socket_options or ():
        writer.get_extra_info("socket").setsockopt(*option)
    return AsyncioStream(reader, writer)


def _readable(sock: socket.socket | None) -> bool:
    if sock is None:
        return True  # no socket left to read: as good as closed
    try:
        ready, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed meanwhile
        return True
    return bool(ready)
