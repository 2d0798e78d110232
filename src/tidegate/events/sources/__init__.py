"""The source table: adding a registry is one module plus one row here.

Everything that names sources reads this table: the intake's paths, hook creation (API,
CLI, admin page, the first start), workflow validation (`on.image.sources`), the binding
of hooks to registries, and `tidegate simulate`.
"""

from __future__ import annotations

from tidegate.errors import NotFound
from tidegate.events.sources.base import Parsed, Sample, Source, body_hash
from tidegate.events.sources.dockerhub import DockerHubSource
from tidegate.events.sources.registry import RegistrySource

__all__ = [
    "ALIASES",
    "SOURCES",
    "Parsed",
    "Sample",
    "Source",
    "body_hash",
    "get_source",
    "known_source",
]

SOURCES: dict[str, Source] = {
    "dockerhub": DockerHubSource(),
    "registry": RegistrySource(),
}

# The Jenkins plugin's path prefixes (`/dockerhub-webhook/{token}/notify`), so users switch
# by changing the host only. The intake routes resolve them; `/hooks/{source}` does not.
ALIASES: dict[str, str] = {
    "dockerhub-webhook": "dockerhub",
    "dockerregistry-webhook": "registry",
}


def get_source(name: str) -> Source | None:
    """The source registered as `name` (not an alias), or None."""
    return SOURCES.get(name)


def known_source(name: str) -> Source:
    """The source registered as `name`; NotFound naming the known ones otherwise."""
    source = SOURCES.get(name)
    if source is None:
        raise NotFound(f"unknown source {name!r}; known: {', '.join(sorted(SOURCES))}")
    return source
