"""The registry client's network layer (asyncio streams under httpcore2) against real
servers: Debian's docker-registry over TLS, and small asyncio servers that stall, refuse
or drop a kept-alive connection. Every other registry test goes through it as well."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest

from tests.parts import Registry, TokenIssuer, self_signed
from tests.support import require
from tidegate.registry import CredentialStore, ImageRef, RegistryClient, RegistryUnreachable
from tidegate.registry.network import AsyncioTransport

pytestmark = pytest.mark.anyio

TLS_PORT = 5915


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[tuple[Registry, Path]]:
    require(bool(shutil.which("docker-registry")), "docker-registry is not installed")
    require(TokenIssuer.available(), "cryptography is not installed")
    cert, key = self_signed(tmp_path / "tls")
    registry = Registry(TLS_PORT, tmp_path / "registry", tls=(cert, key)).start()
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


@asynccontextmanager
async def server(answer: bytes | None, *, close_after: bool = False) -> AsyncIterator[list[int]]:
    """A one-request-at-a-time HTTP/1.1 server on loopback: `answer` each request (None:
    never answer), closing the connection afterwards if `close_after`. Yields a list
    whose first item is its port and whose length grows by one per connection."""
    seen: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(0)
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

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    ports = [port]
    try:
        yield ports
    finally:
        listening.close()
        ports.extend(seen)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


async def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    async with server(None) as ports:
        transport = AsyncioTransport(ssl.create_default_context())
        async with httpx2.AsyncClient(transport=transport, timeout=0.2) as client:
            with pytest.raises(httpx2.ReadTimeout):
                await client.get(f"http://127.0.0.1:{ports[0]}/v2/")


async def test_a_refused_connection_is_a_connect_error_and_unreachable() -> None:
    async with server(OK) as ports:
        port = ports[0]
    transport = AsyncioTransport(ssl.create_default_context())
    async with httpx2.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/v2/")
    async with RegistryClient(CredentialStore(None), attempts=1) as registry:
        with pytest.raises(RegistryUnreachable, match=f"cannot connect to 127.0.0.1:{port}"):
            await registry.exists(ImageRef.parse(f"127.0.0.1:{port}/acme/web:v1"))


async def test_a_kept_alive_connection_the_server_dropped_is_not_reused() -> None:
    async with server(OK, close_after=True) as ports:
        transport = AsyncioTransport(ssl.create_default_context())
        async with httpx2.AsyncClient(transport=transport) as client:
            url = f"http://127.0.0.1:{ports[0]}/v2/"
            assert (await client.get(url)).status_code == 200
            await asyncio.sleep(0.1)  # the server has closed it by now
            assert (await client.get(url)).status_code == 200
    assert len(ports) - 1 == 2  # a second connection, not an error on the dead one
