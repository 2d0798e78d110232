"""A registry (or token realm) named by IP address is connected to without a DNS lookup
(network.py `_resolved`), and still only once the address policy has judged it."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence

import pytest

from tidegate.registry.errors import RegistryRefused
from tidegate.registry.network import AsyncioBackend
from tidegate.security.addresses import IPAddress

pytestmark = pytest.mark.anyio


class Recording:
    def __init__(self, refuse: bool = False) -> None:
        self.judged: list[tuple[str, int, list[IPAddress]]] = []
        self.refuse = refuse

    def check_addresses(self, host: str, port: int, addresses: Sequence[IPAddress]) -> None:
        self.judged.append((host, port, list(addresses)))
        if self.refuse:
            raise RegistryRefused(f"{host}:{port} refused")


async def test_an_address_is_judged_then_connected_to() -> None:
    accepted: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        policy = Recording()
        stream = await AsyncioBackend(policy).connect_tcp("127.0.0.1", port, timeout=5)
        assert stream.get_extra_info("server_addr")[:2] == ("127.0.0.1", port)
        stream.close()
        refused = Recording(refuse=True)
        with pytest.raises(RegistryRefused, match=f"127.0.0.1:{port} refused"):
            await AsyncioBackend(refused).connect_tcp("127.0.0.1", port, timeout=5)
        await asyncio.sleep(0.05)
        for writer in accepted:
            writer.close()
    assert policy.judged == [("127.0.0.1", port, [ipaddress.ip_address("127.0.0.1")])]
    assert len(refused.judged) == 1 and len(accepted) == 1  # the refused one never connected
