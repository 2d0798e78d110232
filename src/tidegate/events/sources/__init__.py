"""The source table: adding a registry is one module plus one row here.

Everything that names sources reads this table: the intake's paths, hook creation (API,
CLI, admin page, the first start), workflow validation (`on.image.sources`), the binding
of hooks to registries, and `tidegate simulate`.
"""

from __future__ import annotations

from tidegate.errors import NotFound
from tidegate.events.sources.acr import AcrSource
from tidegate.events.sources.artifactory import ArtifactorySource
from tidegate.events.sources.auth import NO_AUTH, HookAuth
from tidegate.events.sources.base import Parsed, Sample, Source, body_hash
from tidegate.events.sources.cloudevents import CloudEventsSource
from tidegate.events.sources.dockerhub import DockerHubSource
from tidegate.events.sources.ecr import EcrSource
from tidegate.events.sources.gar import GarSource
from tidegate.events.sources.ghcr import GhcrSource
from tidegate.events.sources.harbor import HarborSource
from tidegate.events.sources.quay import QuaySource
from tidegate.events.sources.registry import RegistrySource

__all__ = [
    "ALIASES",
    "NO_AUTH",
    "SOURCES",
    "HookAuth",
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
    "harbor": HarborSource(),
    "ghcr": GhcrSource(),
    "quay": QuaySource(),
    "acr": AcrSource(),
    "ecr": EcrSource(),
    "gar": GarSource(),
    "artifactory": ArtifactorySource(),
    "cloudevents": CloudEventsSource(),
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
