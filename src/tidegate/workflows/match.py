"""Does a workflow's `on.image` filter accept an event? Pure; patterns are cached."""

from __future__ import annotations

from tidegate.events.model import ImageEvent
from tidegate.workflows.patterns import registry_matches, repository_matches, tag_matches
from tidegate.workflows.schema import ImageFilter

__all__ = ["matches", "tag_matches"]


def matches(f: ImageFilter, event: ImageEvent) -> bool:
    """All of: a repository glob, a tag pattern, the source and the registry host accept it.

    An empty tag (digest-only push) passes only when `tags` holds ``""``, see
    `tag_matches`.
    """
    if f.sources is not None and event.source not in f.sources:
        return False
    if f.registries is not None and not any(
        registry_matches(p, event.registry) for p in f.registries
    ):
        return False
    if not any(repository_matches(p, event.repository) for p in f.repositories):
        return False
    return any(tag_matches(p, event.tag) for p in f.tags)
