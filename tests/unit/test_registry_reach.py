"""Which registries and addresses the registry client may contact (registry/reach.py)."""

from __future__ import annotations

import ipaddress

import httpx2
import pytest

from tidegate.errors import OutboundRefused
from tidegate.registry import ImageRef, RegistryClient, RegistryError
from tidegate.registry.errors import RegistryRefused
from tidegate.registry.reach import Reach
from tidegate.security.addresses import is_internal
from tidegate.security.allowlist import AllowList

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("8.8.8.8", False),
        ("2606:4700::1111", False),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("10.0.0.5", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # cloud metadata
        ("100.64.0.1", True),  # shared address space
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("255.255.255.255", True),
        ("::1", True),
        ("::", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("fec0::1", True),
        ("ff02::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:10.0.0.1", True),
        ("::ffff:8.8.8.8", False),
        ("64:ff9b::a00:5", True),  # NAT64 of 10.0.0.5
        ("2002:7f00:1::", True),  # 6to4 of 127.0.0.1
        ("::127.0.0.1", True),
    ],
)
def test_internal_addresses(address: str, internal: bool) -> None:
    assert is_internal(ipaddress.ip_address(address)) is internal


def reach(*entries: str, bound: tuple[str, ...] = (), insecure: tuple[str, ...] = ()) -> Reach:
    return Reach(AllowList(entries), bound=bound, insecure=insecure)


@pytest.mark.parametrize(
    ("entries", "bound", "registry", "allowed"),
    [
        (["*"], [], "ghcr.io", True),
        (["*"], [], "docker.io", True),
        (["*"], [], "registry.example.com:5000", False),  # `*` is https on 443
        (["*:*"], [], "registry.example.com:5000", True),
        (["*"], [], "127.0.0.1:5000", False),
        (["*:*"], [], "127.0.0.1:5000", False),  # private: never by a wildcard
        (["*:*"], [], "[::1]:5000", False),
        (["*:*"], [], "10.0.0.5", False),
        (["127.0.0.1:*"], [], "127.0.0.1:5000", True),
        (["127.0.0.1:5000"], [], "127.0.0.1:5000", True),
        (["127.0.0.1:5001"], [], "127.0.0.1:5000", False),
        (["127.0.0.1"], [], "127.0.0.1:5000", False),
        (["10.0.0.5"], [], "10.0.0.5", True),
        (["docker.io"], [], "docker.io", True),
        (["ghcr.io"], [], "docker.io", False),
        ([], ["127.0.0.1:5000"], "127.0.0.1:5000", True),
        ([], ["127.0.0.1:5000"], "127.0.0.1:5001", False),
        ([], ["localhost"], "localhost", True),  # plain http on loopback: port 80
        ([], ["registry.internal"], "registry.internal", True),
        ([], ["registry.internal"], "registry.internal:80", False),
    ],
)
def test_check_registry(entries: list[str], bound: list[str], registry: str, allowed: bool) -> None:
    policy = reach(*entries, bound=tuple(bound))
    if allowed:
        policy.check_registry(registry)
        return
    with pytest.raises(RegistryRefused) as caught:
        policy.check_registry(registry)
    assert isinstance(caught.value, OutboundRefused)  # what callers of the allow-list catch
    message = str(caught.value)
    assert message.startswith(registry)
    assert "TIDEGATE_REGISTRY_ALLOWED_HOSTS" in message
    assert f"tidegate hook create registry --registry {registry}" in message


def test_an_insecure_registry_bound_without_a_port_is_reached_on_80() -> None:
    reach(bound=("registry.internal",), insecure=("registry.internal",)).check_registry(
        "registry.internal"
    )


LOOPBACK = [ipaddress.ip_address("127.0.0.1")]
PUBLIC = [ipaddress.ip_address("93.184.215.14")]


@pytest.mark.parametrize(
    ("entries", "bound", "host", "port", "addresses", "allowed"),
    [
        (["*:*"], [], "registry.example.com", 443, PUBLIC, True),
        (["*:*"], [], "rebind.example.com", 443, LOOPBACK, False),
        (["*:*"], [], "rebind.example.com", 443, PUBLIC + LOOPBACK, False),  # any one
        (["localhost:*"], [], "localhost", 5000, LOOPBACK, True),
        (["localhost"], [], "localhost", 5000, LOOPBACK, False),
        (["127.0.0.1:*"], [], "localhost", 5000, LOOPBACK, True),  # the address is named
        (["*.example.com:*"], [], "a.example.com", 5000, LOOPBACK, False),
        ([], ["localhost:5000"], "localhost", 5000, LOOPBACK, True),
        ([], ["localhost:5000"], "localhost", 5001, LOOPBACK, False),
    ],
)
def test_check_addresses(
    entries: list[str],
    bound: list[str],
    host: str,
    port: int,
    addresses: list[ipaddress.IPv4Address],
    allowed: bool,
) -> None:
    policy = reach(*entries, bound=tuple(bound))
    if allowed:
        policy.check_addresses(host, port, addresses)
        return
    with pytest.raises(RegistryRefused, match=f"^{host}:{port} resolves to a private"):
        policy.check_addresses(host, port, addresses)


async def test_the_client_refuses_before_any_request() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200)

    async with RegistryClient(
        lambda host: None, transport=httpx2.MockTransport(handler), reach=reach("*")
    ) as client:
        with pytest.raises(RegistryError) as caught:
            await client.resolve(ImageRef.parse("127.0.0.1:9/acme/web:v1"))
    assert seen == []
    assert str(caught.value).startswith("127.0.0.1:9/acme/web:v1: 127.0.0.1:9 is a private")
    assert caught.value.brief.startswith("127.0.0.1:9 is a private or local address")
