"""`tidegate promote SRC DST`: a promotion by hand, with the same client the step uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tidegate.config import Settings
from tidegate.registry import CredentialStore, ImageRef, RegistryClient
from tidegate.registry.copying import CopyResult
from tidegate.registry.reach import Reach
from tidegate.registry.referrers import Carried
from tidegate.security.allowlist import AllowList


@dataclass
class HandPromotion:
    source: ImageRef  # pinned
    destination: ImageRef
    result: CopyResult
    carried: Carried | None = None  # with signatures=True


def reach_for(settings: Settings) -> Reach:
    """The server's registry allow-list, and its rule for private addresses."""
    allowed = AllowList(settings.registry_allowed_hosts)
    return Reach(allowed, insecure=settings.insecure_registries)


def client_for(settings: Settings) -> RegistryClient:
    return RegistryClient(
        CredentialStore(settings.docker_config, settings.logins()),
        timeout=settings.outbound_timeout,
        insecure_hosts=settings.insecure_registries,
        reach=reach_for(settings),
    )


async def promote(
    settings: Settings,
    source_text: str,
    destination_text: str,
    on_progress: Callable[[int], None] | None = None,
    *,
    signatures: bool = False,
) -> HandPromotion:
    """Resolve SRC to its digest now, then copy exactly that digest to DST; with
    `signatures`, then what refers to it (referrers, cosign tags) to DST's repository."""
    source = ImageRef.parse(source_text)
    destination = ImageRef.parse(destination_text)
    reach = reach_for(settings)
    for ref in (source, destination):
        reach.check_registry(ref.registry)
    async with client_for(settings) as client:
        if not source.digest:
            source = source.with_digest((await client.resolve(source)).digest)
        result = await client.copy(source, destination, on_progress=on_progress)
        carried = await client.copy_referrers(source, destination) if signatures else None
    return HandPromotion(source, destination, result, carried)
