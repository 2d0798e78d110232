"""Where blobs were last seen: for each registry and blob digest, the repositories known
to hold it, so that a copy into a registry can mount a blob from a repository there
instead of sending its bytes again (skopeo keeps the same knowledge in its blob-info
cache).

A sighting is a hint, never a fact: the registry checks a mount against what it holds,
and a mount it refuses opens an ordinary upload, so a stale sighting costs nothing but
being forgotten. Bounded: the least recently used blobs drop out first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

# Repositories kept per blob: a mount needs only one that still holds it.
_PER_BLOB = 3


class BlobSightings:
    """Process-wide memory of (registry, digest) → repositories, most recent first."""

    def __init__(self, max_blobs: int = 20_000) -> None:
        self._max = max_blobs
        self._seen: OrderedDict[tuple[str, str], list[str]] = OrderedDict()
        self._lock = threading.Lock()  # engine steps may copy from several threads

    def seen(self, registry: str, repository: str, digest: str) -> None:
        """`registry`'s `repository` holds blob `digest` (it was found, mounted or stored)."""
        key = (registry.lower(), digest)
        with self._lock:
            repositories = self._seen.pop(key, [])
            if repository in repositories:
                repositories.remove(repository)
            self._seen[key] = [repository, *repositories][:_PER_BLOB]
            while len(self._seen) > self._max:
                self._seen.popitem(last=False)

    def where(self, registry: str, digest: str, *, besides: str) -> str | None:
        """A repository of `registry` other than `besides` known to hold `digest`."""
        with self._lock:
            for repository in self._seen.get((registry.lower(), digest), ()):
                if repository != besides:
                    return repository
        return None

    def forget(self, registry: str, repository: str, digest: str) -> None:
        """`repository` turned out not to hold `digest` (a refused mount)."""
        key = (registry.lower(), digest)
        with self._lock:
            repositories = self._seen.get(key)
            if repositories and repository in repositories:
                repositories.remove(repository)
                if not repositories:
                    del self._seen[key]

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


# One memory per process, shared by every client, as skopeo shares its cache per machine.
SIGHTINGS = BlobSightings()
