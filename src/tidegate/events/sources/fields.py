"""Reading a sender's JSON for the sources whose body is one push (or one list of them).

Every member is held to `events/grammar.py` as it is read: a body breaking it is a
`PayloadError` naming the member (the sender gets 400). Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tidegate.errors import PayloadError
from tidegate.events import grammar

Problem = Callable[[str], str | None]

# host/path[:tag][@digest], as registries write an image reference.
_REFERENCE_RE = re.compile(r"([^/@]+)/([^:@]+)(?::([^@]+))?(?:@(.+))?")


def document(doc: Any, what: str) -> dict[str, Any]:
    """The body's top-level object, held to the raw grammar (depth, Unicode)."""
    if not isinstance(doc, dict):
        raise PayloadError(f"expected a JSON object: {what}")
    return raw(doc)


def raw(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` held to the raw grammar (depth, Unicode)."""
    found = grammar.raw_problem(doc)
    if found is not None:
        path, reason = found
        raise PayloadError(f"{path or 'the body'} {reason}", field=path or None)
    return doc


def obj(doc: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> dict[str, Any]:
    """An object member; absent or null reads as {} unless `required`."""
    value = doc.get(key)
    if value is None:
        if required:
            raise PayloadError(f"missing field {path}", field=path)
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{path} must be an object", field=path)
    return value


def items(doc: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> list[Any]:
    """A list member; absent or null reads as [] unless `required`."""
    value = doc.get(key)
    if value is None:
        if required:
            raise PayloadError(f"missing field {path}", field=path)
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{path} must be a list", field=path)
    return value


def text(
    doc: Mapping[str, Any],
    key: str,
    path: str,
    problem: Problem = grammar.text_problem,
    *,
    required: bool = False,
) -> str:
    """A string member held to `problem`; absent or null reads as "" unless `required`."""
    value = doc.get(key)
    if value is None or value == "":
        if required:
            raise PayloadError(f"missing field {path}", field=path)
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{path} must be a string", field=path)
    check(problem(value), path)
    return value


def registry(doc: Mapping[str, Any], key: str, path: str) -> str:
    """A required registry host[:port] member, lower-cased."""
    return host(text(doc, key, path, required=True), path)


def repository(doc: Mapping[str, Any], key: str, path: str) -> str:
    """A required repository name member."""
    return text(doc, key, path, grammar.repository_problem, required=True)


def unchecked(value: str) -> str | None:
    """The problem of a member any string may hold (held to a grammar later): none."""
    return None


def check(problem: str | None, path: str) -> None:
    if problem is not None:
        raise PayloadError(f"{path} {problem}", field=path)


def host(value: str, path: str) -> str:
    """A registry host[:port], lower-cased (host names are case-insensitive)."""
    value = value.lower()
    check(grammar.host_problem(value), path)
    return value


def url_host(url: str, path: str) -> str:
    """host[:port] of an http(s) URL (without user info), held to the host grammar."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:  # an unclosed IPv6 bracket
        netloc = ""
    if not netloc:
        raise PayloadError(f"{path} {grammar.clip(url)} names no host", field=path)
    return host(netloc.rpartition("@")[2], path)


def reference(value: str, path: str) -> tuple[str, str, str, str]:
    """`host/repo[:tag][@digest]` as (host, repository, tag, digest), each checked."""
    match = _REFERENCE_RE.fullmatch(value)
    if match is None:
        raise PayloadError(f"{path} {grammar.clip(value)} is not an image reference", field=path)
    registry, repository, tag, digest = match.groups()
    check(grammar.repository_problem(repository), path)
    check(grammar.tag_problem(tag or ""), path)
    check(grammar.digest_problem(digest or ""), path)
    return host(registry, path), repository, tag or "", digest or ""


def timestamp(value: Any, path: str) -> datetime | None:
    """A Unix timestamp (seconds) or an RFC 3339 string; absent reads as None."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(_rfc3339(value))
            if parsed.tzinfo is None:
                raise ValueError(value)
            return parsed.astimezone(UTC)
        raise TypeError
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        shown = grammar.clip(str(value)) if isinstance(value, str) else type(value).__name__
        raise PayloadError(f"{path} {shown} is not a timestamp", field=path) from exc


def _rfc3339(text: str) -> str:
    """Go's nanoseconds cut to Python's microseconds; `Z` as an offset."""
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        rest = rest[:digits][:6] + rest[digits:]
    return (head + dot + rest).replace("Z", "+00:00").replace("z", "+00:00")
