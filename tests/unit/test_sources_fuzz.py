"""Whatever the body, a source returns `Parsed` or raises `PayloadError`: nothing else."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidegate.errors import PayloadError, Unverified
from tidegate.events.sources import SOURCES
from tidegate.events.sources.auth import HookAuth
from tidegate.events.sources.base import Parsed
from tidegate.image_event import ImageEvent

WEBHOOKS = Path(__file__).parent.parent / "fixtures" / "webhooks"
RECORDED = [
    json.loads(p.read_text())
    for p in sorted(WEBHOOKS.glob("*/*.json"))
    if not p.name.endswith(".expected.json")
]
# Members the parsers look at, so generated objects reach past the first check.
KEYS = [
    "events", "id", "timestamp", "action", "target", "mediaType", "digest", "repository",
    "url", "tag", "request", "host", "actor", "name", "source", "addr", "push_data",
    "pushed_at", "pusher", "repo_name", "namespace", "callback_url", "media_type",
    # harbor, ghcr, quay, acr, ecr, gar, artifactory, cloudevents
    "type", "occur_at", "operator", "event_data", "resources", "resource_url",
    "repo_full_name", "specversion", "data", "time", "package", "package_type",
    "package_version", "container_metadata", "package_url", "manifest", "sender", "login",
    "owner", "version", "updated_tags", "docker_url", "detail-type", "detail",
    "action-type", "result", "image-tag", "image-digest", "repository-name",
    "manifest-media-type", "account", "region", "message", "messageId", "publishTime",
    "jpd_origin", "event_type", "domain", "repo_key", "image_name", "sha256",
    "registry", "mime_type",
]  # fmt: skip
CONTENT_TYPES = [
    None,
    "application/json",
    "application/x-www-form-urlencoded",
    "application/vnd.docker.distribution.events.v1+json",
    "application/vnd.docker.distribution.events.v2+json",
    "text/plain; charset=latin-1",
]

# No example database: tests must not write outside the files they own.
fuzz = settings(
    database=None, deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow]
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["push", "pull", "latest", "acme/web", "sha256:" + "0" * 64, "Z"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=30,
)
EXTRA_HEADERS = [
    {},
    {"x-github-event": "package"},
    {"x-github-event": "registry_package", "x-github-delivery": "\x00"},
    {"x-github-event": "ping"},
    {"ce-specversion": "1.0", "ce-type": "dev.tidegate.image.pushed", "ce-id": "1"},
    {"ce-specversion": "0.3", "ce-type": "x", "ce-id": "\ud800"},
]
headers = st.builds(
    lambda ct, extra: extra | ({} if ct is None else {"content-type": ct}),
    st.sampled_from(CONTENT_TYPES),
    st.sampled_from(EXTRA_HEADERS),
)


def check(body: bytes, head: dict[str, str]) -> None:
    for source in SOURCES.values():
        try:
            parsed = source.parse(body, head)
        except PayloadError as err:
            assert err.field is None or isinstance(err.field, str)
            assert err.message
            continue
        assert isinstance(parsed, Parsed)
        assert all(isinstance(e, ImageEvent) and e.source == source.name for e in parsed.events)
        assert all(isinstance(reason, str) and reason for reason in parsed.ignored)


def encodings(doc: Any) -> st.SearchStrategy[bytes]:
    text = json.dumps(doc)
    return st.sampled_from([text.encode(), urlencode({"payload": text}).encode()])


@fuzz
@given(body=st.binary(max_size=512), head=headers)
def test_arbitrary_bytes(body: bytes, head: dict[str, str]) -> None:
    check(body, head)
    check(b"payload=" + body, head)


@fuzz
@given(data=st.data(), doc=json_values, head=headers)
def test_arbitrary_json(data: st.DataObject, doc: Any, head: dict[str, str]) -> None:
    check(data.draw(encodings(doc)), head)
    check(json.dumps({"events": [doc]}).encode(), head)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every member's path in doc: dict keys and list indexes."""
    found: list[tuple[Any, ...]] = []
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in items:
        found.append((*prefix, key))
        found.extend(paths(value, (*prefix, key)))
    return found


def swapped(value: Any) -> st.SearchStrategy[Any]:
    """A replacement of a different JSON type than value."""
    others = [
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=10),
        st.lists(scalars, max_size=2),
        st.dictionaries(st.sampled_from(KEYS), scalars, max_size=2),
    ]
    kinds = (type(None), bool, int, str, list, dict)
    return st.one_of([s for s, k in zip(others, kinds, strict=True) if type(value) is not k])


@fuzz
@given(data=st.data(), head=headers)
def test_mutated_recordings(data: st.DataObject, head: dict[str, str]) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(RECORDED)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        where = paths(doc)
        if not where:
            break
        *parents, last = data.draw(st.sampled_from(where))
        obj = doc
        for key in parents:
            obj = obj[key]
        if data.draw(st.booleans()):
            del obj[last]
        else:
            obj[last] = data.draw(swapped(obj[last]))
    check(data.draw(encodings(doc)), head)


AUTHS = [
    HookAuth(),
    HookAuth("fuzz-secret-0123456789abcdef"),
    HookAuth("fuzz-secret-0123456789abcdef", "x-key"),
]
header_values = st.text(max_size=80) | st.sampled_from(["Bearer ", "sha256=", "Bearer \u00e9", ""])


@fuzz
@given(
    body=st.binary(max_size=256),
    found=st.dictionaries(
        st.sampled_from(
            ["authorization", "x-hub-signature-256", "x-api-key", "x-key", "x-jfrog-event-auth"]
        ),
        header_values,
        max_size=3,
    ),
    auth=st.sampled_from(AUTHS),
)
def test_verify_refuses_with_unverified_only(
    body: bytes, found: dict[str, str], auth: HookAuth
) -> None:
    for source in SOURCES.values():
        try:
            source.verify(found, body, auth)
        except Unverified as err:
            assert err.message and auth.secret not in err.message or not auth.secret
            continue
        # Accepted: a source that signs nothing, or the header held the secret itself.
        assert not source.takes_secret or auth.secret in "".join(found.values())
