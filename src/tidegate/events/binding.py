"""Binding a `registry` hook to the registries it serves.

Distribution's notifications name the registry as the pusher addressed it
(`request.host`), and whoever holds a hook's token writes the notification. A hook
bound to registries (`tidegate hook create registry --registry HOST[:PORT]`) takes
only events naming one of them; an unbound hook takes any host, which the registry
allow-list then judges before Tidegate contacts it (registry/reach.py).

Registries compare as canonical host[:port]: lower case, no trailing dot, IPv6 literals
in brackets and compressed, and the https port left out (`host` and `host:443` are one
registry). Pure functions: no database, no network.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from tidegate.events.sources import SOURCES

MAX_LENGTH = 255
DEFAULT_PORT = 443

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def canonical_registry(text: str) -> str:
    """`text` as canonical host[:port]; a ValueError says why it is not one."""
    value = text.strip().lower()
    if not value or len(value) > MAX_LENGTH:
        raise ValueError(f"{_shown(text)} is not a host[:port] of at most {MAX_LENGTH} characters")
    if "/" in value or "@" in value:
        raise ValueError(f"{_shown(text)} is not a host[:port]: leave out scheme, user and path")
    host, port = _split(value, text)
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{_shown(text)}: the port must be a number from 1 to 65535")
    host = _canonical_host(host, text)
    if port is None or int(port) == DEFAULT_PORT:
        return host
    return f"{host}:{int(port)}"


def canonical_registries(source: str, registries: Iterable[str]) -> list[str]:
    """A hook's registries, canonical and without repeats; a ValueError for an invalid
    one, or for a source whose events do not name a registry of their own."""
    found = list(dict.fromkeys(canonical_registry(r) for r in registries))
    known = SOURCES.get(source)
    if found and (known is None or not known.bindable):
        bindable = (name for name, each in SOURCES.items() if each.bindable)
        raise ValueError(
            f"only {', '.join(bindable)} hooks are bound to registries; "
            f"{source} events name their registry themselves"
        )
    return found


def refusal(event_registry: str, bound: Sequence[str]) -> str | None:
    """Why an event naming `event_registry` must be ignored by a hook bound to `bound`;
    None when the hook is not bound, or serves that registry."""
    if not bound:
        return None
    try:
        named = canonical_registry(event_registry)
    except ValueError:
        named = None
    served = set()
    for registry in bound:
        try:
            served.add(canonical_registry(registry))
        except ValueError:
            continue  # stored before validation: serves nothing
    if named is not None and named in served:
        return None
    return (
        f"request.host {_shown(event_registry)} is not a registry this hook serves"
        f" ({', '.join(bound)})"
    )


def _split(value: str, text: str) -> tuple[str, str | None]:
    if value.startswith("["):  # [v6] or [v6]:port
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{_shown(text)} is not a valid [IPv6]:port")
        return f"[{host}]", rest[1:] if rest else None
    if value.count(":") > 1:
        raise ValueError(f"{_shown(text)}: write an IPv6 address in brackets, as [::1]:5000")
    host, colon, port = value.partition(":")
    return host, port if colon else None


def _canonical_host(host: str, text: str) -> str:
    if host.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1])}]"
        except ValueError:
            raise ValueError(f"{_shown(text)} is not a valid IPv6 address") from None
    host = host.removesuffix(".")
    if not _NAME.fullmatch(host):
        raise ValueError(f"{_shown(text)} is not a host name or IP address (host[:port])")
    if not host.rpartition(".")[2].isdigit():
        return host  # a name: no top-level domain is a number
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:  # "010.0.0.1", "1.2.3": resolvers read them as other addresses
        raise ValueError(f"{_shown(text)} is not a valid IPv4 address") from None


def _shown(text: str) -> str:
    """A sender's or user's text, short and quoted, for a message."""
    return repr(text if len(text) <= 80 else text[:77] + "...")
