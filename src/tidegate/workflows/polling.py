"""What `on.image.poll` asks of the rest of the filter: names the registry API can list.

A registry lists the tags of one named repository (`GET /v2/NAME/tags/list`); it has
no call that expands `acme/*`, and `_catalog` is disabled on Docker Hub, GHCR and most
hosted registries. So a polling workflow names its repositories and registries exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from tidegate.workflows.model import Issue

POLL_SOURCE = "poll"  # the source of the events a poll finds; not a webhook source
MIN_POLL_SECONDS = 1.0
DEFAULT_POLL_REGISTRY = "docker.io"
_PATTERN_CHARS = frozenset("*?[]!")


def is_exact(name: str) -> bool:
    """Whether a repository or registry entry is one name rather than a pattern."""
    return not (_PATTERN_CHARS & set(name))


def poll_issues(
    poll: float | None,
    poll_existing: bool,
    repositories: Sequence[str],
    registries: Sequence[str] | None,
) -> list[Issue]:
    """The problems of a filter's polling keys, each located at its offending value."""
    if poll is None:
        if poll_existing:
            return [Issue(("poll_existing",), "poll_existing needs poll: (e.g. poll: 5m)")]
        return []
    issues: list[Issue] = []
    if poll < MIN_POLL_SECONDS:
        issues.append(Issue(("poll",), f"poll must be at least 1s, got {poll:g}s", poll))
    for i, name in enumerate(repositories):
        if not is_exact(name):
            message = (
                f"poll needs exact repository names: {name!r} is a pattern, and a registry "
                "cannot list the repositories it matches; name each one"
            )
            issues.append(Issue(("repositories", i), message, name))
    for i, host in enumerate(registries or ()):
        if not is_exact(host):
            message = (
                f"poll needs exact registry hosts: {host!r} is a pattern; name each host "
                "(host or host:port)"
            )
            issues.append(Issue(("registries", i), message, host))
    return issues
