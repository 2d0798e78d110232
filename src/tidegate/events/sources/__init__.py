"""The source table: adding a registry is one module plus one line here."""

from __future__ import annotations

from tidegate.events.sources.base import Parsed, Source
from tidegate.events.sources.dockerhub import DockerHubSource
from tidegate.events.sources.registry import RegistrySource

__all__ = ["ALIASES", "SOURCES", "Parsed", "Source", "get_source"]

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
