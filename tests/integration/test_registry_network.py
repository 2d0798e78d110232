"""The registry client's network layer (asyncio streams under httpcore2) against real
servers: Debian's docker-registry over TLS, and small asyncio servers that stall, refuse
or drop a kept-alive connection. Every other registry test goes through it as well."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from tests.parts import Registry, TokenIssuer, self_signed
from tests.support import require
from tidegate.registry import CredentialStore, ImageRef, RegistryClient, RegistryUnreachable
from tidegate.registry.transport import AsyncioTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[tuple[Registry, Path]]:
    require(TokenIssuer.available(), "cryptography is not installed")
    cert, key = self_signed(tmp_path / "tls")
    registry = Registry(tmp_path / "registry", tls=(cert, key)).start()
    try:
        yield registry, cert
    finally:
        registry.stop()


async def test_a_tls_registry_takes_and_serves_a_blob(tls_registry: tuple[Registry, Path]) -> None:
    registry, cert = tls_registry
    trusting = ssl.create_default_context(cafile=str(cert))
    data = os.urandom(3 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    base = f"https://{registry.host}/v2/acme/web"
    async with httpx2.AsyncClient(transport=AsyncioTransport(trusting)) as client:
        assert (await client.get(f"https://{registry.host}/v2/")).status_code == 200
        started = await client.post(f"{base}/blobs/uploads/")
        assert started.status_code == 202
        location = started.url.join(started.headers["location"])
        stored = await client.put(
            location.copy_merge_params({"digest": digest}),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert stored.status_code == 201
        served = await client.get(f"{base}/blobs/{digest}")
        assert served.content == data
        assert served.extensions["network_stream"].get_extra_info("ssl_object") is not None


async def test_an_untrusted_certificate_is_refused(tls_registry: tuple[Registry, Path]) -> None:
    registry, _ = tls_registry
    async with httpx2.AsyncClient(transport=AsyncioTransport(ssl.create_default_context())) as c:
        with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await c.get(f"https://{registry.host}/v2/")


@dataclass
class Seen:
    """What a `server` saw: its port, and how many connections it took and closed."""

    port: int
    connections: int = 0
    closed: int = 0


@asynccontextmanager
async def server(answer: bytes | None, *, close_after: bool = False) -> AsyncIterator[Seen]:
    """A one-request-at-a-time HTTP/1.1 server on loopback: `answer` each request (None:
    never answer), closing the connection afterwards if `close_after`."""
    seen = Seen(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                if answer is None:
                    await asyncio.sleep(3600)
                writer.write(answer)
                await writer.drain()
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):  # a client that left mid-answer
                await writer.wait_closed()
            seen.closed += 1

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    seen.port = listening.sockets[0].getsockname()[1]
    try:
        yield seen
    finally:
        listening.close()


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `check` on the running loop until it holds; fail at the deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"not so within {timeout}s"
        await asyncio.sleep(0.005)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


async def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    async with server(None) as seen:
        transport = AsyncioTransport(ssl.create_default_context())
        async with httpx2.AsyncClient(transport=transport, timeout=0.2) as client:
            with pytest.raises(httpx2.ReadTimeout):
                await client.get(f"http://127.0.0.1:{seen.port}/v2/")


async def test_a_refused_connection_is_a_connect_error_and_unreachable() -> None:
    async with server(OK) as seen:
        port = seen.port
    transport = AsyncioTransport(ssl.create_default_context())
    async with httpx2.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/v2/")
    async with RegistryClient(CredentialStore(None), attempts=1) as registry:
        with pytest.raises(RegistryUnreachable, match=f"cannot connect to 127.0.0.1:{port}"):
            await registry.exists(ImageRef.parse(f"127.0.0.1:{port}/acme/web:v1"))


async def test_a_kept_alive_connection_the_server_dropped_is_not_reused() -> None:
    async with server(OK, close_after=True) as seen:
        transport = AsyncioTransport(ssl.create_default_context())
        async with httpx2.AsyncClient(transport=transport) as client:
            url = f"http://127.0.0.1:{seen.port}/v2/"
            assert (await client.get(url)).status_code == 200
            await until(lambda: seen.closed == 1)  # the server has closed the connection
            assert (await client.get(url)).status_code == 200
        assert seen.connections == 2  # a second connection, not an error on the dead one


async def test_a_connection_is_kept_for_the_next_request_to_its_origin() -> None:
    async with server(OK) as seen:
        transport = AsyncioTransport(ssl.create_default_context())
        async with httpx2.AsyncClient(transport=transport) as client:
            url = f"http://127.0.0.1:{seen.port}/v2/"
            for _ in range(3):
                assert (await client.get(url)).json() == {}
        await until(lambda: seen.closed == 1)  # closed with the client
    assert seen.connections == 1


async def test_an_answer_left_unread_closes_its_connection() -> None:
    big = b"x" * 200_000
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big)
    async with server(answer) as seen:
        transport = AsyncioTransport(ssl.create_default_context())
        async with httpx2.AsyncClient(transport=transport) as client:
            url = f"http://127.0.0.1:{seen.port}/v2/"
            async with client.stream("GET", url) as response:
                async for _ in response.aiter_raw(1024):
                    break  # the rest is left on the connection: it must not be reused
            assert (await client.get(url)).content == big
    assert seen.connections == 2


async def test_a_server_that_hangs_up_without_answering_is_a_protocol_error() -> None:
    async with server(b"", close_after=True) as seen:
        transport = AsyncioTransport(ssl.create_default_context())
        async with httpx2.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx2.RemoteProtocolError, match="without sending a response"):
                await client.get(f"http://127.0.0.1:{seen.port}/v2/")


async def test_a_garbled_answer_is_a_protocol_error() -> None:
    async with server(b"SMTP ready\r\n\r\n") as seen:
        transport = AsyncioTransport(ssl.create_default_context())
        async with httpx2.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx2.RemoteProtocolError):
                await client.get(f"http://127.0.0.1:{seen.port}/v2/")


async def test_an_idle_connection_the_server_spoke_on_is_not_reused() -> None:
    """Bytes a server sends on an idle kept-alive connection (a 408 before it hangs up,
    say) would be taken for the next request's answer: that connection is dropped."""
    stray = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n"
    connections: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(OK)
                await writer.drain()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        transport = AsyncioTransport(ssl.create_default_context())
        async with httpx2.AsyncClient(transport=transport) as client:
            url = f"http://127.0.0.1:{port}/v2/"
            assert (await client.get(url)).status_code == 200
            connections[0].write(stray)  # out of turn, the connection left open
            await asyncio.sleep(0.05)
            assert (await client.get(url)).status_code == 200
        assert len(connections) == 2
    finally:
        listening.close()


async def test_a_host_name_the_resolver_cannot_take_is_a_connect_error() -> None:
    transport = AsyncioTransport(ssl.create_default_context())
    async with httpx2.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get(f"http://{'a' * 64}.example/v2/")
