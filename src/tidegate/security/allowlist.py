"""Outbound allow-list: the hosts a callback or notification may reach.

Entries are `host`, `host:port`, `*.example.com` (any subdomain, not the apex), or `*`
(anywhere). IPv6 literals are written `[::1]` or `[::1]:8080` (a bare `::1` also works
without a port). Hosts compare case-insensitively; an entry without a port allows any.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tidegate.errors import OutboundRefused

DOCKERHUB_CALLBACK_HOSTS = ("registry.hub.docker.com", "hub.docker.com")

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Only plain names and IP literals. A URL with a control character or space, or an
# authority with a backslash or percent-escape, is parsed differently by different
# libraries (`https://evil\@good/`): refusing it closes that gap.
_HOSTNAME = re.compile(r"[a-z0-9_.-]+")
_UNSAFE_URL = re.compile(r"[\x00-\x20\x7f]")
_AUTHORITY = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@\[\]-]*")


@dataclass(frozen=True)
class _Entry:
    host: str  # lower-case; an IP literal in canonical form; "*.x" for a wildcard
    port: int | None


class AllowList:
    """Decides whether an outbound URL may be requested."""

    def __init__(self, hosts: Iterable[str]) -> None:
        self.entries = tuple(_parse_entry(h) for h in hosts if h.strip())

    @classmethod
    def from_csv(cls, text: str) -> AllowList:
        """Entries separated by commas, as in `TIDEGATE_CALLBACK_ALLOWED_HOSTS`."""
        return cls(text.split(","))

    def allows(self, url: str) -> bool:
        """True when `url` is http(s) and its host (and port) is on the list."""
        target = _target(url)
        return target is not None and self.allows_host(*target)

    @property
    def unrestricted(self) -> bool:
        """Whether the list holds a bare "*": anywhere, any port."""
        return any(e.host == "*" and e.port is None for e in self.entries)

    def allows_host(self, host: str, port: int | None) -> bool:
        """True when `host` (a name or IP literal) on `port` is on the list."""
        host = _canonical_host(host)
        if not (_HOSTNAME.fullmatch(host) or _is_ip(host)):
            return False
        return any(_matches(entry, host, port) for entry in self.entries)

    def check(self, url: str) -> None:
        """Raise `OutboundRefused` naming the host unless `url` is allowed."""
        if self.allows(url):
            return
        try:
            parts = urlsplit(url.strip())
            host = parts.hostname or "?"
        except ValueError:
            raise OutboundRefused("refused an invalid URL") from None
        if parts.scheme.lower() not in _DEFAULT_PORTS:
            raise OutboundRefused(f"{host}: only http and https may be requested")
        raise OutboundRefused(f"{host} is not on the outbound allow-list")

    def __repr__(self) -> str:
        shown = [e.host if e.port is None else f"{e.host}:{e.port}" for e in self.entries]
        return f"AllowList({shown!r})"


def _parse_entry(text: str) -> _Entry:
    text = text.strip().lower()
    port_text = ""
    if text.startswith("["):  # [v6] or [v6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:  # a name, or a bare IPv6 literal
        host = text
    if not host or (port_text and not port_text.isdigit()):
        raise ValueError(f"invalid allow-list entry {text!r}: expected host or host:port")
    port = int(port_text) if port_text else None
    if host.startswith("*.") or host == "*":
        return _Entry(host, port)
    return _Entry(_canonical_host(host), port)


def _target(url: str) -> tuple[str, int | None] | None:
    """(host, port) of an http(s) URL, or None when it is not one we would request."""
    url = url.strip()
    if _UNSAFE_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not host:
        return None
    if not _AUTHORITY.fullmatch(parts.netloc):
        return None
    return _canonical_host(host), port if port is not None else _DEFAULT_PORTS[parts.scheme.lower()]


def _canonical_host(host: str) -> str:
    host = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        return str(ipaddress.ip_address(host))  # "0:0::1" and "::1" are one host
    except ValueError:
        return host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _matches(entry: _Entry, host: str, port: int | None) -> bool:
    if entry.port is not None and entry.port != port:
        return False
    if entry.host == "*":
        return True
    if entry.host.startswith("*."):
        return host.endswith(entry.host[1:]) and not _is_ip(host)
    return entry.host == host
