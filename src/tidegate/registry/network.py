"""The network under registry HTTP: connections on plain asyncio streams.

A connection resolves its host once, has an `AddressPolicy` judge every address (a
name chosen by a webhook sender must not lead to an internal service: reach.py), and
connects to the addresses judged, never to the name again: no second lookup can answer
differently (DNS rebinding). TLS still verifies, and sends as SNI, the name the URL
gives (transport.py passes it to `start_tls`; the Host header comes from the URL too).
Timeouts and failures are raised as httpx2's exceptions, as its own transport raises
them.
"""

from __future__ import annotations

import asyncio
import asyncio.staggered
import functools
import ipaddress
import select
import socket
import ssl
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

import httpx2

from tidegate.security.addresses import IPAddress

# As RFC 8305 suggests, and as anyio does: IPv6 first, IPv4 250 ms later if need be.
HAPPY_EYEBALLS_DELAY = 0.25

AddressInfo = tuple[int, int, int, str, tuple[Any, ...]]  # getaddrinfo's


class AddressPolicy(Protocol):
    """Judges the addresses a host resolved to, before any is connected to."""

    def check_addresses(self, host: str, port: int, addresses: Sequence[IPAddress]) -> None:
        """Raise (any exception but OSError) to refuse the connection."""


class AsyncioStream:
    """One connection: an asyncio reader and writer, plain or upgraded to TLS."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:  # before OSError, of which it is a kind
            raise httpx2.ReadTimeout(str(exc) or "read timed out") from exc
        except OSError as exc:
            raise httpx2.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpx2.WriteTimeout(str(exc) or "write timed out") from exc
        except OSError as exc:
            raise httpx2.WriteError(str(exc)) from exc

    def close(self) -> None:
        # Not waiting for the close: a peer that never acknowledges a TLS close must not
        # hold up the request that is done with this connection.
        self._writer.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncioStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            raise httpx2.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except OSError as exc:  # ssl.SSLError included: an untrusted certificate, say
            raise httpx2.ConnectError(str(exc)) from exc
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
            # spoken to out of turn) by the server: the pool then drops it. The reader
            # takes what arrives into its own buffer at once, so that is looked at too
            # (asyncio has no public count of it).
            if self._reader.at_eof() or getattr(self._reader, "_buffer", None):
                return True
            return _readable(self._writer.get_extra_info("socket"))
        return None


class AsyncioBackend:
    """Opens TCP connections on asyncio streams, only to addresses `policy` accepts
    (None: any)."""

    def __init__(self, policy: AddressPolicy | None = None) -> None:
        self._policy = policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
    ) -> AsyncioStream:
        # asyncio's TCP transports set TCP_NODELAY: small requests go out at once.
        return await _connected(self._open(host, port), timeout, f"{host}:{port}")

    async def _open(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Resolve, judge, then connect to the judged addresses (happy eyeballs)."""
        infos = await _resolved(host, port)
        if not infos:
            raise OSError(f"{host} resolved to no address")
        if self._policy is not None:
            self._policy.check_addresses(host, port, [_address(info) for info in infos])
        sock = await _connect_any(_interleaved(infos))
        try:
            return await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise


async def _connected(
    opening: Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    timeout: float | None,
    where: str,
) -> AsyncioStream:
    """The stream `opening` connects, its failures as httpx2's."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await opening
    except TimeoutError as exc:
        raise httpx2.ConnectTimeout(str(exc) or f"connect to {where} timed out") from exc
    except OSError as exc:
        raise httpx2.ConnectError(str(exc)) from exc
    return AsyncioStream(reader, writer)


async def _resolved(host: str, port: int) -> Sequence[AddressInfo]:
    """getaddrinfo's answer: for a name, from the resolver in a thread; for an address
    (a registry named by IP, a token realm on 127.0.0.1), at once, with no lookup to
    wait for. That spares a `tidegate promote` starting the resolver's thread and (the
    address passed as bytes) importing the IDNA codec: ~5 ms of CPU, where a warm
    retag on a local registry takes ~8 (2 shared cores)."""
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        try:  # the resolver takes ASCII (a URL's host is IDNA-encoded already)
            name = host.encode("ascii")
        except UnicodeError:
            raise OSError(f"{host!r} is not a host name") from None
        loop = asyncio.get_running_loop()
        return await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    numeric = socket.AI_NUMERICHOST
    return socket.getaddrinfo(host.encode(), port, type=socket.SOCK_STREAM, flags=numeric)


def _address(info: AddressInfo) -> IPAddress:
    # An IPv6 link-local address may carry its zone ("fe80::1%eth0").
    return ipaddress.ip_address(str(info[4][0]).partition("%")[0])


def _interleaved(infos: Sequence[AddressInfo]) -> list[AddressInfo]:
    """The resolver's order, families alternating from the first one's (RFC 8305)."""
    families: dict[int, list[AddressInfo]] = {}
    for info in infos:
        families.setdefault(info[0], []).append(info)
    groups = list(families.values())
    ordered = []
    for i in range(max(len(g) for g in groups)):
        ordered += [g[i] for g in groups if i < len(g)]
    return ordered


async def _connect_any(infos: list[AddressInfo]) -> socket.socket:
    """A socket connected to one of `infos`: the next tried every HAPPY_EYEBALLS_DELAY
    until one connects; the others are closed."""
    loop = asyncio.get_running_loop()
    connected: list[socket.socket] = []

    async def attempt(info: AddressInfo) -> socket.socket:
        family, kind, proto, _, address = info
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except BaseException:  # a loser is cancelled: it closes its own socket
            sock.close()
            raise
        connected.append(sock)
        return sock

    if len(infos) == 1:
        return await attempt(infos[0])
    winner: socket.socket | None = None
    try:
        attempts = [functools.partial(attempt, info) for info in infos]
        winner, _, errors = await asyncio.staggered.staggered_race(attempts, HAPPY_EYEBALLS_DELAY)
    finally:
        for sock in connected:  # connected too, but after the winner
            if sock is not winner:
                sock.close()
    if winner is None:
        said = dict.fromkeys(str(e) for e in errors if e is not None)
        raise OSError("; ".join(said) or "cannot connect")
    return winner


def _readable(sock: socket.socket | None) -> bool:
    if sock is None:
        return True  # no socket left to read: as good as closed
    try:
        ready, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed meanwhile
        return True
    return bool(ready)
