"""Docker Distribution notifications (CNCF distribution, Debian's `docker-registry`).

One envelope `{"events": [...]}` carries a batch of unrelated events, so each event is
judged on its own: a malformed or uninteresting one is ignored with a reason naming the
event and the field, and never costs its siblings (the intake stores the rest in one
transaction). Only a body that is not an envelope at all is a `PayloadError`.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tidegate.errors import PayloadError
from tidegate.events import grammar
from tidegate.events.sources import fields
from tidegate.events.sources.auth import NO_AUTH, HookAuth
from tidegate.events.sources.base import (
    Parsed,
    Sample,
    Unsigned,
    body_hash,
    load_json,
    split_reference,
)
from tidegate.image_event import ImageEvent

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

EVENTS_V2 = "application/vnd.docker.distribution.events.v2+json"
SAMPLE_REGISTRY = "registry.example.com:5000"

# RFC 3339 as Go writes it: up to nanoseconds, which datetime.fromisoformat refuses.
_TIMESTAMP_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class _Ignored(Exception):
    """One event left out; the message is the reason recorded in `Parsed.ignored`."""


class RegistrySource(Unsigned):
    """Distribution's notification endpoint (and the Jenkins `/dockerregistry-webhook/`).
    Distribution signs nothing: the hook's token is all there is to check."""

    name = "registry"
    bindable = True  # events name the registry (`request.host`): whoever writes them

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        """Manifest pushes in the envelope; blob pushes, pulls, mounts, deletes ignored.

        The content type (events.v1+json, events.v2+json, application/json) is not
        checked: every version sends the same envelope.
        """
        envelope = load_json(body)
        if not isinstance(envelope, dict):
            raise PayloadError("expected a JSON object with an events list", field="events")
        events = fields.items(envelope, "events", "events", required=True)

        parsed = Parsed()
        for index, item in enumerate(events):
            try:
                parsed.events.append(_event(item, index))
            except _Ignored as ignored:
                parsed.ignored.append(str(ignored))
        return parsed

    def sample(self, reference: str, *, callback_url: str = "", auth: HookAuth = NO_AUTH) -> Sample:
        """`callback_url` is Docker Hub's alone: Distribution sends none."""
        del callback_url, auth
        return registry_payload(reference), {"content-type": EVENTS_V2}


class _Fields:
    """Reads one event's members; a wrong type ignores the event, naming the field."""

    def __init__(self, label: str) -> None:
        self.label = label

    def text(
        self,
        obj: Mapping[str, Any],
        key: str,
        name: str,
        problem: Callable[[str], str | None] = grammar.text_problem,
    ) -> str:
        """An optional string member held to its grammar; absent or null reads as ""."""
        value = obj.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise _Ignored(f"event {self.label}: {name} must be a string")
        self.check(name, problem(value))
        return value

    def check(self, name: str, problem: str | None) -> None:
        if problem is not None:
            raise _Ignored(f"event {self.label}: {name} {problem}")

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
    if event_id and grammar.text_problem(event_id) is not None:
        raise _Ignored(f"event #{index}: id {grammar.text_problem(event_id)}")
    label = grammar.short(event_id) if event_id else f"#{index}"
    f = _Fields(label)
    raw = grammar.raw_problem(item)
    if raw is not None:
        path, reason = raw
        raise _Ignored(f"event {label}: {path or 'the event'} {reason}")

    action = f.text(item, "action", "action")
    if not action:
        raise _Ignored(f"event {label}: missing field action")
    if action != "push":
        raise _Ignored(f"event {label}: {grammar.short(action)} ignored")
    if item.get("target") is None:
        raise _Ignored(f"event {label}: missing field target")
    target = f.obj(item, "target", "target")
    media_type = f.text(target, "mediaType", "target.mediaType", grammar.media_type_problem)
    tag = f.text(target, "tag", "target.tag", grammar.tag_problem)
    # Pushing an image pushes its layers and config first: those are blobs, not images.
    if not tag and media_type.split(";", 1)[0].strip().lower() not in MANIFEST_MEDIA_TYPES:
        shown = grammar.clip(media_type) if media_type else "no mediaType"
        raise _Ignored(f"event {label}: blob push ignored ({shown})")

    repository = f.text(target, "repository", "target.repository", grammar.repository_problem)
    if not repository:
        raise _Ignored(f"event {label}: missing field target.repository")
    digest = f.text(target, "digest", "target.digest", grammar.digest_problem)

    timestamp = f.text(item, "timestamp", "timestamp")
    pushed_at = _timestamp(timestamp) if timestamp else None
    if timestamp and pushed_at is None:
        raise _Ignored(f"event {label}: timestamp {grammar.clip(timestamp)} is not RFC 3339")

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
        f.check(name, grammar.host_problem(host))
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


def registry_payload(reference: str, *, registry: str = SAMPLE_REGISTRY, pusher: str = "") -> bytes:
    """A notification envelope holding one manifest push of `reference` to `registry`."""
    repository, tag = split_reference(reference)
    digest = "sha256:" + hashlib.sha256(secrets.token_bytes(32)).hexdigest()
    event = {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(),
        "action": "push",
        "target": {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "size": 1234,
            "digest": digest,
            "length": 1234,
            "repository": repository,
            "url": f"http://{registry}/v2/{repository}/manifests/{digest}",
            "tag": tag,
        },
        "request": {
            "id": str(uuid.uuid4()),
            "addr": "127.0.0.1:53210",
            "host": registry,
            "method": "PUT",
            "useragent": "tidegate-simulate",
        },
        "actor": {"name": pusher},
        "source": {"addr": "registry:5000", "instanceID": str(uuid.uuid4())},
    }
    return json.dumps({"events": [event]}).encode()
