"""The registry client's reach, through the real network backend: a name is resolved
once, every address is judged, and the connection goes to the address judged. Internal
services are small asyncio servers on loopback that record what reaches them."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.parts import self_signed
from tidegate.registry import ImageRef, RegistryClient, RegistryError
from tidegate.registry.errors import RegistryRefused
from tidegate.registry.network import AsyncioBackend
from tidegate.registry.reach import Reach
from tidegate.registry.transport import AsyncioTransport
from tidegate.security.addresses import IPAddress
from tidegate.security.allowlist import AllowList

pytestmark = pytest.mark.anyio

DIGEST = "sha256:" + "a" * 64


@dataclass
class Service:
    """An HTTP/1.1 service on 127.0.0.1: records each request's head, answers `answer`."""

    answer: Callable[[str], bytes]
    port: int = 0
    connections: int = 0
    requests: list[str] = field(default_factory=list)


@asynccontextmanager
async def service(
    answer: Callable[[str], bytes], ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Service]:
    found = Service(answer)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        found.connections += 1
        try:
            while head := (await reader.readuntil(b"\r\n\r\n")).decode("latin-1"):
                found.requests.append(head)
                writer.write(found.answer(head))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    found.port = listening.sockets[0].getsockname()[1]
    try:
        yield found
    finally:
        listening.close()


def http(status: int, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def reach(*entries: str) -> Reach:
    return Reach(AllowList(entries))


@pytest.fixture
async def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names the running loop resolves to addresses of our choosing (`.test` names
    resolve nowhere else); each lookup is recorded under "asked"."""
    names: dict[str, list[str]] = {"asked": []}
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if isinstance(host, bytes):  # as the network layer asks: in ASCII
            host = host.decode("ascii")
        names["asked"].append(host)
        if host in names:
            infos = []
            for address in names[host]:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                infos.append((family, socket.SOCK_STREAM, 6, "", (address, port)))
            return infos
        return await real(host, port, *args, **kw)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return names


async def test_a_name_that_resolves_to_loopback_is_refused_unless_listed() -> None:
    async with service(lambda head: http(200)) as internal:
        for entries in (["*"], ["*:*"], ["*.localhost:*"], ["localhost"]):
            backend = AsyncioBackend(reach(*entries))
            with pytest.raises(RegistryRefused) as caught:
                await backend.connect_tcp("localhost", internal.port, timeout=5)
            assert str(caught.value).startswith(
                f"localhost:{internal.port} resolves to a private or local address"
            )
            assert "TIDEGATE_REGISTRY_ALLOWED_HOSTS" in str(caught.value)
        assert internal.connections == 0
        for entries in (["localhost:*"], [f"localhost:{internal.port}"], ["127.0.0.1:*"]):
            stream = await AsyncioBackend(reach(*entries)).connect_tcp(
                "localhost", internal.port, timeout=5
            )
            stream.close()
        await asyncio.sleep(0.05)
    assert internal.connections == 3


async def test_the_connection_goes_to_the_address_judged(resolver: dict[str, list[str]]) -> None:
    judged: list[tuple[str, int, list[IPAddress]]] = []

    class Recording:
        def check_addresses(self, host: str, port: int, addresses: list[IPAddress]) -> None:
            judged.append((host, port, list(addresses)))

    resolver["rebind.test"] = ["127.0.0.1"]
    async with service(lambda head: http(200)) as internal:
        stream = await AsyncioBackend(Recording()).connect_tcp(  # type: ignore[arg-type]
            "rebind.test", internal.port, timeout=5
        )
        peer = stream.get_extra_info("server_addr")
        stream.close()
    # One lookup, and the connection to what it answered: a second lookup by name
    # (which could answer otherwise) would not even resolve a `.test` name.
    assert resolver["asked"] == ["rebind.test"]
    assert judged == [("rebind.test", internal.port, [ipaddress.ip_address("127.0.0.1")])]
    assert peer[:2] == ("127.0.0.1", internal.port)


async def test_one_internal_address_among_public_ones_is_refused(
    resolver: dict[str, list[str]],
) -> None:
    resolver["mixed.test"] = ["93.184.215.14", "127.0.0.1"]
    with pytest.raises(RegistryRefused, match="mixed.test:443 resolves to a private"):
        await AsyncioBackend(reach("*")).connect_tcp("mixed.test", 443, timeout=5)


async def test_tls_verifies_and_names_the_host_while_connecting_to_the_address(
    tmp_path: Path, resolver: dict[str, list[str]]
) -> None:
    cert, key = self_signed(tmp_path, "registry.test")
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_side.sni_callback = lambda sock, name, context: sni.append(name)
    resolver["registry.test"] = ["127.0.0.1"]
    trusting = ssl.create_default_context(cafile=str(cert))
    async with service(lambda head: http(200, b"{}"), server_side) as registry:
        transport = AsyncioTransport(trusting, reach("registry.test:*"))
        async with httpx2.AsyncClient(transport=transport) as client:
            answer = await client.get(f"https://registry.test:{registry.port}/v2/")
    assert answer.status_code == 200
    assert sni == ["registry.test"]
    assert f"host: registry.test:{registry.port}" in registry.requests[0].lower()


async def test_a_token_realm_on_loopback_is_refused_unless_listed() -> None:
    async with (
        service(lambda head: http(200, b'{"token": "t"}')) as realm,
        service(
            lambda head: http(
                401,
                WWW_Authenticate=f'Bearer realm="http://127.0.0.1:{realm.port}/token",service=x',
            )
        ) as registry,
    ):
        ref = ImageRef.parse(f"localhost:{registry.port}/acme/web:v1")
        async with RegistryClient(lambda host: None, reach=reach("localhost:*")) as client:
            with pytest.raises(RegistryRefused) as caught:
                await client.resolve(ref)
        assert realm.requests == []
        assert str(caught.value) == (
            f"{ref}: 127.0.0.1:{realm.port} resolves to a private or local address: list it "
            "by name in TIDEGATE_REGISTRY_ALLOWED_HOSTS (`*` and `*.domain` do not count), or "
            "bind it to the registry hook its events come from "
            f"(tidegate hook create registry --registry 127.0.0.1:{realm.port})"
        )
        listed = reach("localhost:*", f"127.0.0.1:{realm.port}")
        async with RegistryClient(lambda host: None, reach=listed, attempts=1) as client:
            with pytest.raises(RegistryError):  # the registry refuses the token: no matter
                await client.resolve(ref)
        assert {r.split(" ")[1].split("?")[0] for r in realm.requests} == {"/token"}


async def test_a_redirect_to_loopback_is_refused_unless_listed() -> None:
    async with service(lambda head: http(200, b"secret")) as storage:
        redirect = http(307, Location=f"http://127.0.0.1:{storage.port}/blob")
        async with service(lambda head: redirect) as registry:
            ref = ImageRef.parse(f"localhost:{registry.port}/acme/web@{DIGEST}")
            async with RegistryClient(lambda host: None, reach=reach("localhost:*")) as client:
                with pytest.raises(RegistryRefused, match=f"127.0.0.1:{storage.port} resolves"):
                    async with client.open_blob(ref) as chunks:
                        async for _ in chunks:
                            pass
    assert storage.requests == []
