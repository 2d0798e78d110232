"""Outbound allow-list: the hosts a callback, a notification or a registry request may reach.

Entries:

- `host`: that host over https on port 443, and nothing else (not plain http, not
  another port: an allowed name must not open the other services of its machine);
- `host:port`: that host on that port, over http or https;
- `host:*`: that host on any port, over http or https (test registries on ephemeral
  ports, a registry whose port is not known in advance);
- `*.example.com` (any subdomain, not the apex), with the same port forms;
- `*`: any host over https on 443; `*:*` anywhere, any port, http or https.

IPv6 literals are written `[::1]`, `[::1]:8080` or `[::1]:*` (a bare `::1` also works,
without a port). Hosts compare case-insensitively, IP literals in canonical form.
URLs with control characters, spaces, or an authority that libraries parse differently
(`https://evil\\@good/`, percent-escapes) are refused before any request.
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
ANY_PORT = "*"


@dataclass(frozen=True)
class _Entry:
    host: str  # lower-case; an IP literal in canonical form; "*.x" for a wildcard
    port: int | None  # None: https on 443 only (unless any_port)
    any_port: bool = False

    @property
    def wildcard(self) -> bool:
        return self.host == "*" or self.host.startswith("*.")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.any_port:
            return f"{host}:{ANY_PORT}"
        return host if self.port is None else f"{host}:{self.port}"


class AllowList:
    """Decides whether an outbound URL may be requested."""

    def __init__(self, hosts: Iterable[str]) -> None:
        self.entries = tuple(_parse_entry(h) for h in hosts if h.strip())

    @classmethod
    def from_csv(cls, text: str) -> AllowList:
        """Entries separated by commas, as in `TIDEGATE_CALLBACK_ALLOWED_HOSTS`."""
        return cls(text.split(","))

    def allows(self, url: str) -> bool:
        """True when `url` is http(s) and its host, port and scheme are on the list."""
        target = _target(url)
        return target is not None and self.allows_host(*target)

    @property
    def unrestricted(self) -> bool:
        """Whether the list holds `*:*`: anywhere, any port, http or https."""
        return any(e.host == "*" and e.any_port for e in self.entries)

    def allows_host(self, host: str, port: int | None, scheme: str = "https") -> bool:
        """True when `host` (a name or IP literal) on `port` over `scheme` is on the list
        (`port` None: the scheme's default)."""
        host = _canonical_host(host)
        if scheme not in _DEFAULT_PORTS or not (_HOSTNAME.fullmatch(host) or _is_ip(host)):
            return False
        port = _DEFAULT_PORTS[scheme] if port is None else port
        return any(_matches(entry, host, port, scheme) for entry in self.entries)

    def names(self, host: str, port: int) -> bool:
        """Whether an entry names `host` itself on `port` (any scheme): `host`,
        `host:port` or `host:*`, never `*` or `*.domain`. An entry without a port names
        port 443. What a private address needs to be reachable (registry/reach.py)."""
        host = _canonical_host(host)
        return any(
            not e.wildcard and e.host == host and _port_matches(e, port, None) for e in self.entries
        )

    def check(self, url: str) -> None:
        """Raise `OutboundRefused` naming the host unless `url` is allowed."""
        if self.allows(url):
            return
        try:
            parts = urlsplit(url.strip())
            host = parts.hostname or "?"
            port = parts.port
        except ValueError:
            raise OutboundRefused("refused an invalid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise OutboundRefused(f"{host}: only http and https may be requested")
        if self.allows_host(host, None):  # the name is listed, but not this port or scheme
            shown = f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"
            raise OutboundRefused(
                f"{shown} is not on the outbound allow-list "
                "(an entry without a port allows https on port 443 only)"
            )
        raise OutboundRefused(f"{host} is not on the outbound allow-list")

    def __repr__(self) -> str:
        return f"AllowList({[str(e) for e in self.entries]!r})"


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
    any_port = port_text == ANY_PORT
    valid_port = not port_text or any_port or (port_text.isdigit() and 0 < int(port_text) < 65536)
    if not host or not valid_port:
        raise ValueError(
            f"invalid allow-list entry {text!r}: expected host, host:port or host:{ANY_PORT}"
        )
    port = int(port_text) if port_text.isdigit() else None
    if host.startswith("*.") or host == "*":
        return _Entry(host, port, any_port)
    return _Entry(_canonical_host(host), port, any_port)


def _target(url: str) -> tuple[str, int, str] | None:
    """(host, port, scheme) of an http(s) URL, or None when it is not one we would request."""
    url = url.strip()
    if _UNSAFE_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if not _AUTHORITY.fullmatch(parts.netloc):
        return None
    return _canonical_host(host), port if port is not None else _DEFAULT_PORTS[scheme], scheme


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


def _port_matches(entry: _Entry, port: int, scheme: str | None) -> bool:
    """`scheme` None: any (the caller checks it elsewhere)."""
    if entry.any_port:
        return True
    if entry.port is None:
        return port == _DEFAULT_PORTS["https"] and scheme in ("https", None)
    return entry.port == port


def _matches(entry: _Entry, host: str, port: int, scheme: str) -> bool:
    if not _port_matches(entry, port, scheme):
        return False
    if entry.host == "*":
        return True
    if entry.host.startswith("*."):
        return host.endswith(entry.host[1:]) and not _is_ip(host)
    return entry.host == host
