"""Docker Distribution notifications (CNCF distribution, Debian's `docker-registry`).

One envelope `{"events": [...]}` carries a batch of unrelated events, so each event is
judged on its own: a malformed or uninteresting one is ignored with a reason, and never
costs its siblings. Only a body that is not an envelope at all is a `PayloadError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tidegate.errors import PayloadError
from tidegate.events.model import ImageEvent, body_hash
from tidegate.events.sources.base import Parsed

# What a push of an image (not of one of its blobs) carries as target.mediaType.
MANIFEST_MEDIA_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
    }
)

# Distribution's name grammar. Its `[-]*` separator lets two alphanumeric runs meet, which
# Python's backtracking engine explores exponentially; `-+` accepts exactly the same names.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_REPOSITORY_MAX = 255
_TAG_RE = re.compile(r"\w[\w.-]{0,127}", re.ASCII)  # ASCII: Go's \w, as Distribution means it
_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_HOST_RE = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\])(?::[0-9]{{1,5}})?")
_HOST_MAX = 255
# RFC 3339 as Go writes it: up to nanoseconds, which datetime.fromisoformat refuses.
_TIMESTAMP_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class _Ignored(Exception):
    """One event left out; the message is the reason recorded in `Parsed.ignored`."""


class RegistrySource:
    """Distribution's notification endpoint (and the Jenkins `/dockerregistry-webhook/`)."""

    name = "registry"

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        """Manifest pushes in the envelope; blob pushes, pulls, mounts, deletes ignored.

        The content type (events.v1+json, events.v2+json, application/json) is not
        checked: every version sends the same envelope.
        """
        try:
            envelope = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise PayloadError(f"malformed JSON: {exc}") from exc
        if not isinstance(envelope, dict):
            raise PayloadError("expected a JSON object with an events list", field="events")
        events = envelope.get("events")
        if events is None:
            raise PayloadError("missing field events", field="events")
        if not isinstance(events, list):
            raise PayloadError("events must be a list", field="events")

        parsed = Parsed()
        for index, item in enumerate(events):
            try:
                parsed.events.append(_event(item, index))
            except _Ignored as ignored:
                parsed.ignored.append(str(ignored))
        return parsed


class _Fields:
    """Reads one event's members; a wrong type ignores the event, naming the field."""

    def __init__(self, label: str) -> None:
        self.label = label

    def text(self, obj: Mapping[str, Any], key: str, name: str) -> str:
        """An optional string member; absent or null reads as ""."""
        value = obj.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise _Ignored(f"event {self.label}: {name} must be a string")
        return value

    def obj(self, obj: Mapping[str, Any], key: str, name: str) -> Mapping[str, Any]:
        """An optional object member; absent or null reads as {}."""
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _Ignored(f"event {self.label}: {name} must be an object")
        return value


def _event(item: Any, index: int) -> ImageEvent:
    if not isinstance(item, dict):
        raise _Ignored(f"event #{index}: not an object")
    event_id = item.get("id")
    if event_id is not None and not isinstance(event_id, str):
        raise _Ignored(f"event #{index}: id must be a string")
    label = _clip(event_id) if event_id else f"#{index}"
    f = _Fields(label)

    action = f.text(item, "action", "action")
    if not action:
        raise _Ignored(f"event {label}: missing field action")
    if action != "push":
        raise _Ignored(f"event {label}: {_clip(action)} ignored")
    if item.get("target") is None:
        raise _Ignored(f"event {label}: missing field target")
    target = f.obj(item, "target", "target")
    media_type = f.text(target, "mediaType", "target.mediaType")
    tag = f.text(target, "tag", "target.tag")
    # Pushing an image pushes its layers and config first: those are blobs, not images.
    if not tag and media_type.split(";", 1)[0].strip().lower() not in MANIFEST_MEDIA_TYPES:
        raise _Ignored(f"event {label}: blob push ignored ({_clip(media_type or 'no mediaType')})")

    repository = f.text(target, "repository", "target.repository")
    if not repository:
        raise _Ignored(f"event {label}: missing field target.repository")
    if len(repository) > _REPOSITORY_MAX or not _REPOSITORY_RE.fullmatch(repository):
        raise _Ignored(f"event {label}: target.repository {_clip(repository)} is not valid")
    if tag and not _TAG_RE.fullmatch(tag):
        raise _Ignored(f"event {label}: target.tag {_clip(tag)} is not valid")
    digest = f.text(target, "digest", "target.digest")
    if digest and not _DIGEST_RE.fullmatch(digest):
        raise _Ignored(f"event {label}: target.digest {_clip(digest)} is not valid")

    timestamp = f.text(item, "timestamp", "timestamp")
    pushed_at = _timestamp(timestamp) if timestamp else None
    if timestamp and pushed_at is None:
        raise _Ignored(f"event {label}: timestamp {_clip(timestamp)} is not RFC 3339")

    return ImageEvent(
        source=RegistrySource.name,
        delivery_id=event_id or _event_hash(item),
        registry=_registry_host(f, item, target),
        repository=repository,
        tag=tag,
        digest=digest,
        media_type=media_type,
        pusher=f.text(f.obj(item, "actor", "actor"), "name", "actor.name"),
        pushed_at=pushed_at,
        raw=item,
    )


def _registry_host(f: _Fields, item: Mapping[str, Any], target: Mapping[str, Any]) -> str:
    """The host the pusher addressed; else the one in the content URL; else the registry's own."""
    candidates = (
        ("request.host", f.text(f.obj(item, "request", "request"), "host", "request.host")),
        ("target.url", _url_host(f.text(target, "url", "target.url"))),
        ("source.addr", f.text(f.obj(item, "source", "source"), "addr", "source.addr")),
    )
    for name, host in candidates:
        if not host:
            continue
        host = host.lower()  # host names are case-insensitive; matching compares text
        if len(host) > _HOST_MAX or not _HOST_RE.fullmatch(host):
            raise _Ignored(f"event {f.label}: {name} {_clip(host)} is not a valid host[:port]")
        return host
    raise _Ignored(f"event {f.label}: no registry host (request.host, target.url, source.addr)")


def _url_host(url: str) -> str:
    """host[:port] of target.url, without any user info; "" when there is none."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return ""
    return netloc.rpartition("@")[2]


def _timestamp(text: str) -> datetime | None:
    """RFC 3339 to UTC; fractions past microseconds are truncated (never rounded up)."""
    match = _TIMESTAMP_RE.fullmatch(text)
    if match is None:
        return None
    date, time, fraction, offset = match.groups()
    micro = (fraction or "")[:6].ljust(6, "0")
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{date}T{time}.{micro}{offset}").astimezone(UTC)
    except (ValueError, OverflowError):  # a day 32, or year 1 pushed below datetime.min
        return None


def _event_hash(item: Mapping[str, Any]) -> str:
    """Delivery id for an event without one: the hash of its canonical JSON."""
    try:
        canonical = json.dumps(item, sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError) as exc:
        raise _Ignored("event without id: cannot be hashed") from exc
    return body_hash(canonical.encode())


def _clip(value: str) -> str:
    """A sender's string, short enough for a reason or an error message."""
    return value if len(value) <= 80 else value[:77] + "..."
