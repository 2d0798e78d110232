"""Which hosts the registry client may contact: the allow-list, and the rule for private
addresses, checked where the client connects.

A registry (the host an image reference names) is contacted only when
`registry_allowed_hosts` allows it, or when the registry hook its event came in on is
bound to it. Every connection, to the registry or to a host it sends Tidegate to (its
token service, the storage a download is redirected to, an upload location), is
checked once its name is resolved: a private, loopback, link-local or otherwise internal
address (security/addresses.py) is contacted only when named explicitly — an allow-list
entry `host`, `host:port` or `host:*` for the name or the address, never `*` or
`*.domain` — or bound on that hook. The connection then goes to the address checked
(network.py), so a name cannot resolve elsewhere in between (DNS rebinding).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from tidegate.registry.errors import RegistryRefused
from tidegate.registry.hosts import api_host, hostname, scheme_for
from tidegate.registry.settings import RegistrySettings
from tidegate.security.addresses import IPAddress, is_internal, parse_address
from tidegate.security.allowlist import AllowList

SETTING = "TIDEGATE_REGISTRY_ALLOWED_HOSTS"


class Reach:
    """The hosts one registry client may contact. `allowed` is `registry_allowed_hosts`;
    `bound` the registries (host[:port]) of the hook an event came in on, which an admin
    configured; `insecure` the registries spoken to over plain HTTP."""

    def __init__(
        self,
        allowed: AllowList,
        *,
        bound: Iterable[str] = (),
        insecure: Collection[str] = (),
    ) -> None:
        self._allowed = allowed
        self._insecure = tuple(insecure)
        self._bound = AllowList(_bound_entries(bound, self._insecure))
        self._refusals: dict[str, str | None] = {}  # by registry: a copy asks per request

    @classmethod
    def from_settings(cls, settings: RegistrySettings, *, bound: Iterable[str] = ()) -> Reach:
        """Tidegate's own: `registry_allowed_hosts`, and `insecure_registries` over
        plain HTTP; `bound`, the registries of the hook an event came in on."""
        allowed = AllowList(settings.registry_allowed_hosts)
        return cls(allowed, bound=bound, insecure=settings.insecure_registries)

    def check_registry(self, registry: str) -> None:
        """Raise `RegistryRefused` unless `registry` (host[:port], as a reference names
        it) may be contacted; before any request, so a refusal costs none."""
        if registry not in self._refusals:
            self._refusals[registry] = self._refusal(registry)
        refusal = self._refusals[registry]
        if refusal is not None:
            raise RegistryRefused(refusal)

    def check_addresses(self, host: str, port: int, addresses: Sequence[IPAddress]) -> None:
        """Raise `RegistryRefused` if `host` resolved to an internal address that no
        entry names explicitly (by the name or by the address)."""
        if self._names(host, port):
            return
        for address in addresses:
            if is_internal(address) and not self._names(str(address), port):
                raise RegistryRefused(_private(_netloc(host, port), "resolves to"))

    def _refusal(self, registry: str) -> str | None:
        scheme = scheme_for(registry, self._insecure)
        api = api_host(registry)
        host, port = hostname(api), _port(api, scheme)
        if port is None:
            return f"{registry} is not a valid host[:port]"
        address = parse_address(host)
        if address is not None and is_internal(address):
            return None if self._names(host, port) else _private(registry, "is")
        # Docker Hub's API lives at registry-1.docker.io; an entry may name either.
        urls = {f"{scheme}://{api}/", f"{scheme}://{registry}/"}
        if any(self._allowed.allows(u) or self._bound.allows(u) for u in urls):
            return None
        listed = f"{registry} is not on the registry allow-list: list it in {SETTING}"
        return listed + _bind(registry)

    def _names(self, host: str, port: int) -> bool:
        return self._allowed.names(host, port) or self._bound.names(host, port)


def _private(shown: str, verb: str) -> str:
    return (
        f"{shown} {verb} a private or local address: list it by name in {SETTING}"
        f" (`*` and `*.domain` do not count){_bind(shown)}"
    )


def _bind(shown: str) -> str:
    return (
        ", or bind it to the registry hook its events come from"
        f" (tidegate hook create registry --registry {shown})"
    )


def _bound_entries(bound: Iterable[str], insecure: Collection[str]) -> list[str]:
    """Allow-list entries for a hook's registries: a registry without a port is
    contacted on its scheme's default port, 80 for a plain HTTP one."""
    entries = []
    for registry in bound:
        found = [registry]
        if not _has_port(registry) and scheme_for(registry, insecure) == "http":
            found.append(f"{registry}:80")
        try:
            AllowList(found)
        except ValueError:
            continue  # stored before hooks were validated: binds nothing
        entries += found
    return entries


def _has_port(netloc: str) -> bool:
    if netloc.startswith("["):  # [v6] or [v6]:port
        return netloc.rpartition("]")[2].startswith(":")
    return netloc.count(":") == 1


def _port(netloc: str, scheme: str) -> int | None:
    """The port `netloc` names or implies; None when it is not a number."""
    if not _has_port(netloc):
        return 80 if scheme == "http" else 443
    text = netloc.rpartition(":")[2]
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
