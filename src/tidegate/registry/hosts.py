"""Registry host names: Docker Hub's aliases, loopback, and which scheme to speak."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Collection

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
# Every name Docker uses for Hub, including the config.json key of `docker login`.
DOCKER_HUB_ALIASES = frozenset(
    {DOCKER_HUB, "index.docker.io", DOCKER_HUB_API, "https://index.docker.io/v1/"}
)


def api_host(registry: str) -> str:
    """Where a registry's API lives: Docker Hub's is not at `docker.io`."""
    return DOCKER_HUB_API if registry.lower() in DOCKER_HUB_ALIASES else registry


def registry_name(host: str) -> str:
    """The inverse of `api_host`: `registry-1.docker.io` is `docker.io` again."""
    return DOCKER_HUB if host.lower() in DOCKER_HUB_ALIASES else host


def hostname(registry: str) -> str:
    """`registry` without its port; IPv6 literals lose their brackets."""
    if registry.startswith("["):
        return registry[1:].partition("]")[0]
    return registry.rpartition(":")[0] if registry.count(":") == 1 else registry


@functools.lru_cache(maxsize=1024)  # asked for every request; parsing an address adds up
def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (`host` may carry a port)."""
    name = hostname(host).lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def scheme_for(registry: str, insecure_hosts: Collection[str] = ()) -> str:
    """https, except plain http for loopback and hosts the user marked insecure.

    This follows Docker's defaults; an `insecure_hosts` entry is a host or host:port.
    """
    insecure = {h.lower() for h in insecure_hosts}
    if is_loopback(registry) or {registry.lower(), hostname(registry).lower()} & insecure:
        return "http"
    return "https"
