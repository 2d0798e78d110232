"""Which IP addresses are internal: what a sender-chosen host name must not lead to.

Internal means private, loopback, link-local, unspecified, multicast, reserved, or
otherwise not globally routable (shared address space, documentation ranges), for IPv4
and IPv6 alike. An IPv6 address that carries an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`,
NAT64's `64:ff9b::/96`, 6to4's `2002::/16`) is judged by the IPv4 address too: the
connection ends up there.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_internal(address: IPAddress) -> bool:
    """Whether `address` is anything but a global unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and is_internal(embedded):
            return True
        if address.ipv4_mapped is not None:
            return False  # judged by the IPv4 address alone: ::ffff:0:0/96 is "private"
        if address.is_site_local:
            return True
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or not address.is_global
    )


def parse_address(text: str) -> IPAddress | None:
    """`text` as an IP address (brackets and an IPv6 zone allowed), else None."""
    text = text.strip().removeprefix("[").removesuffix("]").partition("%")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
