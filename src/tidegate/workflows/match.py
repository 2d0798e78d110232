"""Does a workflow's `on.image` filter accept an event, and if not, why? Pure; patterns
are cached.

`explain` is the one judge: `matches` is "explain found nothing", so the reason shown
on an event's page ("why did my push start no run?") is the planner's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from tidegate.image_event import ImageEvent
from tidegate.workflows.patterns import registry_matches, repository_matches, tag_matches
from tidegate.workflows.polling import POLL_SOURCE
from tidegate.workflows.schema import ImageFilter

__all__ = ["Rejection", "explain", "matches", "tag_matches"]


class Rejection(NamedTuple):
    """One criterion of `on.image` that refused an event: its patterns and the value."""

    criterion: str  # "repositories", "tags", "sources" or "registries"
    patterns: tuple[str, ...]
    value: str

    def __str__(self) -> str:
        listed = ", ".join(f"`{p}`" for p in self.patterns)
        verb = f"{listed} does not match" if len(self.patterns) == 1 else f"none of {listed} match"
        shown = f"`{self.value}`" if self.value else _EMPTY.get(self.criterion, "the empty value")
        return f"{self.criterion}: {verb} {shown}"


_EMPTY = {"tags": "the empty tag (a push by digest only)"}


def _check(
    criterion: str,
    patterns: Sequence[str] | None,
    value: str,
    accepts: Callable[[str, str], bool],
) -> list[Rejection]:
    if patterns is None or any(accepts(p, value) for p in patterns):
        return []
    return [Rejection(criterion, tuple(patterns), value)]


def _source_is(name: str, source: str) -> bool:
    return name == source


def _own_poll(f: ImageFilter, event: ImageEvent) -> bool:
    return f.poll is not None and event.source == POLL_SOURCE


def explain(f: ImageFilter, event: ImageEvent) -> list[Rejection]:
    """Every criterion that refuses the event, in the file's order; empty when it matches.

    All of them must accept: a repository glob, a tag pattern, and (when given) the
    source and the registry host. An empty tag (digest-only push) passes only when
    `tags` holds ``""``, see `tag_matches`.
    """
    return [
        *_check("repositories", f.repositories, event.repository, repository_matches),
        *_check("tags", f.tags, event.tag, tag_matches),
        # `sources` names webhook senders: a polling workflow also takes its poll's events.
        *_check("sources", None if _own_poll(f, event) else f.sources, event.source, _source_is),
        *_check("registries", f.registries, event.registry, registry_matches),
    ]


def matches(f: ImageFilter, event: ImageEvent) -> bool:
    """Whether every criterion of the filter accepts the event (see `explain`)."""
    return not explain(f, event)
