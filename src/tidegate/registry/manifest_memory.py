"""Manifests already read, by digest: content-addressed, so bytes kept under a digest
can never go stale, and a later copy of the same image (to another destination, or a
rerun) need not fetch them again.

What a digest's bytes are never changes; whether the source still has them can. A copy
that starts from memory still asks the source (a HEAD, alongside its other requests)
and refuses to write when the image is gone: a manifest deleted at the source, say
because it was found vulnerable, is never promoted from memory. Bounded by bytes,
least recently used out first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from tidegate.registry.manifest_io import Manifest
from tidegate.registry.reference import ImageRef


class ManifestMemory:
    """Process-wide (registry, repository, digest) → `Manifest`, up to `max_bytes`."""

    def __init__(self, max_bytes: int = 16 * 1024 * 1024) -> None:
        self._max = max_bytes
        self._bytes = 0
        self._kept: OrderedDict[tuple[str, str, str], Manifest] = OrderedDict()
        self._lock = threading.Lock()  # engine steps may copy from several threads

    def get(self, ref: ImageRef) -> Manifest | None:
        """The manifest `ref` (pinned to a digest) was read as, if it is still kept."""
        if not ref.digest:
            return None
        key = _key(ref)
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def keep(self, ref: ImageRef, manifest: Manifest) -> None:
        """Remember `manifest`, read from `ref`'s repository; its digest is its key."""
        if len(manifest.content) > self._max:
            return
        key = (ref.api_host.lower(), ref.repository, manifest.digest)
        with self._lock:
            old = self._kept.pop(key, None)
            self._bytes -= len(old.content) if old else 0
            self._kept[key] = manifest
            self._bytes += len(manifest.content)
            while self._bytes > self._max:
                _, dropped = self._kept.popitem(last=False)
                self._bytes -= len(dropped.content)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._bytes = 0


def _key(ref: ImageRef) -> tuple[str, str, str]:
    return (ref.api_host.lower(), ref.repository, ref.digest)


# One memory per process, shared by every client.
MANIFESTS = ManifestMemory()
