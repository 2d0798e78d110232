"""The verifying TLS context the registry client and the CLI's API client share reads
the CA bundle at its first handshake, not when it is made, and verifies as
`ssl.create_default_context()` does: against Debian's docker-registry over TLS with a
self-signed certificate, through the asyncio transport (registries) and blocking
sockets (the CLI's API client)."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from tests.integration.test_registry_network import tls_registry
from tests.parts import Registry
from tidegate.registry.transport import AsyncioTransport
from tidegate.security.tls import verifying_context

pytestmark = pytest.mark.anyio
__all__ = ["tls_registry"]  # the fixture: Debian's docker-registry over TLS


async def test_an_untrusted_certificate_is_refused(tls_registry: tuple[Registry, Path]) -> None:
    registry, _ = tls_registry
    url = f"https://{registry.host}/v2/"
    async with httpx2.AsyncClient(transport=AsyncioTransport(verifying_context())) as client:
        with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(url)
    with (
        httpx2.Client(verify=verifying_context()) as client,
        pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(url)


async def test_the_system_trust_is_read_at_the_first_handshake(
    tls_registry: tuple[Registry, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made before SSL_CERT_FILE names the registry's certificate, a context trusts it
    after: nothing was read when it was made, and no plain-HTTP request reads it."""
    registry, cert = tls_registry
    for_asyncio, for_sockets = verifying_context(), verifying_context()
    plain = Registry(registry.root.parent / "plain").start()
    try:
        async with httpx2.AsyncClient(transport=AsyncioTransport(for_asyncio)) as client:
            assert (await client.get(f"http://{plain.host}/v2/")).status_code == 200
    finally:
        plain.stop()
    assert for_asyncio.cert_store_stats()["x509_ca"] == 0
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    url = f"https://{registry.host}/v2/"
    async with httpx2.AsyncClient(transport=AsyncioTransport(for_asyncio)) as client:
        assert (await client.get(url)).status_code == 200
    with httpx2.Client(verify=for_sockets) as client:
        assert client.get(url).status_code == 200
