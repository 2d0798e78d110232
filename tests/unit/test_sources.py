"""Source parsers against recorded webhooks, and the ways a body can be wrong."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tidegate.errors import PayloadError
from tidegate.events.sources import ALIASES, SOURCES, body_hash, get_source
from tidegate.events.sources.dockerhub import DockerHubSource
from tidegate.events.sources.registry import RegistrySource

WEBHOOKS = Path(__file__).parent.parent / "fixtures" / "webhooks"
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
V1 = {"content-type": "application/vnd.docker.distribution.events.v1+json"}


def recorded() -> list[Path]:
    return sorted(p for p in WEBHOOKS.glob("*/*.json") if not p.name.endswith(".expected.json"))


def load(source: str, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((WEBHOOKS / source / f"{name}.json").read_text())
    return doc


def encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


# Recorded payloads ------------------------------------------------------------------------


@pytest.mark.parametrize("path", recorded(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recorded_payload(path: Path) -> None:
    expected = json.loads(path.with_suffix(".expected.json").read_text())
    body = path.read_bytes()

    parsed = SOURCES[path.parent.name].parse(body, expected["headers"])

    assert len(parsed.ignored) == expected["ignored"], parsed.ignored
    assert len(parsed.events) == len(expected["events"])
    for event, want in zip(parsed.events, expected["events"], strict=True):
        got = event.model_dump(mode="json") | {"image": event.image}
        if want.get("pushed_at"):  # compare instants, not spellings of them
            want = want | {"pushed_at": datetime.fromisoformat(want["pushed_at"])}
            got["pushed_at"] = event.pushed_at
        assert {k: got[k] for k in want} == want
        if "delivery_id" not in want:  # the sender gives none: the body's hash
            assert event.delivery_id == body_hash(body)
        assert event.raw  # kept for replay and for steps that need more


def test_every_source_has_recorded_payloads() -> None:
    for name in SOURCES:
        assert any(p.parent.name == name for p in recorded()), f"no fixtures for {name}"
    assert {p.parent.name for p in recorded()} <= set(SOURCES)


def test_table_and_aliases() -> None:
    assert all(source.name == name for name, source in SOURCES.items())
    assert get_source("registry") is SOURCES["registry"]
    assert get_source("nope") is None
    assert ALIASES == {"dockerhub-webhook": "dockerhub", "dockerregistry-webhook": "registry"}
    assert set(ALIASES.values()) <= set(SOURCES)


# Docker Hub -------------------------------------------------------------------------------


def test_dockerhub_form_encoded_payload() -> None:
    raw = (WEBHOOKS / "dockerhub" / "docs_example.json").read_text()
    want = DockerHubSource().parse(raw.encode(), JSON).events[0]

    for body, headers in [
        (urlencode({"payload": raw}).encode(), FORM),
        (
            urlencode({"payload": raw}).encode(),
            FORM | {"content-type": FORM["content-type"] + "; charset=UTF-8"},
        ),
        (urlencode({"payload": raw}).encode(), JSON),  # Jenkins-era senders, wrong type
        (urlencode({"payload": raw}).encode(), {}),
        (urlencode({"other": "1", "payload": raw}).encode(), FORM),
        (raw.encode(), FORM),  # raw JSON, whatever the content type says
    ]:
        event = DockerHubSource().parse(body, headers).events[0]
        assert event.model_dump(exclude={"delivery_id"}) == want.model_dump(exclude={"delivery_id"})
        assert event.delivery_id == body_hash(body)


@pytest.mark.parametrize(
    ("body", "headers"),
    [(b"other=1", FORM), (b"payload=%FF%FE", FORM), (b"payload=\xff", {})],
)
def test_dockerhub_bad_form_names_payload(body: bytes, headers: dict[str, str]) -> None:
    with pytest.raises(PayloadError) as err:
        DockerHubSource().parse(body, headers)
    assert err.value.field == "payload"


def test_dockerhub_form_payload_holding_bad_json() -> None:
    with pytest.raises(PayloadError, match="malformed JSON") as err:
        DockerHubSource().parse(b"payload=%7Bnope", FORM)
    assert err.value.field is None


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ({"repo_name": "nginx", "namespace": "library", "name": "nginx"}, "library/nginx"),
        ({"repo_name": "nginx", "name": "nginx"}, "library/nginx"),
        ({"repo_name": "library/nginx", "namespace": "library"}, "library/nginx"),
        ({"repo_name": "acme/web", "namespace": "acme", "name": "web"}, "acme/web"),
    ],
)
def test_dockerhub_official_images_live_under_library(
    repository: dict[str, str], expected: str
) -> None:
    doc = load("dockerhub", "official_image") | {"repository": repository}
    event = DockerHubSource().parse(encode(doc), JSON).events[0]
    assert event.repository == expected
    assert event.registry == "docker.io"


def test_dockerhub_empty_tag_is_kept_and_image_uses_latest() -> None:
    doc = load("dockerhub", "docs_example")
    doc["push_data"]["tag"] = ""
    event = DockerHubSource().parse(encode(doc), JSON).events[0]
    assert event.tag == ""
    assert event.image == "docker.io/svendowideit/testhook:latest"


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of doc with the member at dotted `path` replaced, or deleted when value is ..."""
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    obj = doc
    for key in parents:
        obj = obj[key]
    if value is ...:
        del obj[last]
    else:
        obj[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("push_data", ..., "push_data"),
        ("push_data", None, "push_data"),
        ("push_data", [], "push_data"),
        ("repository", ..., "repository.repo_name"),
        ("repository.repo_name", ..., "repository.repo_name"),
        ("repository.repo_name", "", "repository.repo_name"),
        ("repository.repo_name", 42, "repository.repo_name"),
        ("repository.repo_name", "Acme/Web", "repository.repo_name"),
        ("repository.repo_name", "acme//web", "repository.repo_name"),
        ("repository.repo_name", "acme/web-", "repository.repo_name"),
        ("repository.repo_name", "a/" + "b" * 254, "repository.repo_name"),
        ("repository", "svendowideit/testhook", "repository"),
        ("push_data.tag", 1, "push_data.tag"),
        ("push_data.tag", "-latest", "push_data.tag"),
        ("push_data.tag", "a" * 129, "push_data.tag"),
        ("push_data.tag", "v1 beta", "push_data.tag"),
        ("push_data.tag", "caf\u00e9", "push_data.tag"),
        ("push_data.pusher", {"name": "x"}, "push_data.pusher"),
        ("push_data.pushed_at", "yesterday", "push_data.pushed_at"),
        ("push_data.pushed_at", True, "push_data.pushed_at"),
        ("push_data.pushed_at", 10**20, "push_data.pushed_at"),
        ("push_data.pushed_at", float("nan"), "push_data.pushed_at"),
        ("callback_url", ["https://x"], "callback_url"),
    ],
)
def test_dockerhub_bad_field_is_named(path: str, value: Any, field: str) -> None:
    doc = _set(load("dockerhub", "docs_example"), path, value)
    with pytest.raises(PayloadError) as err:
        DockerHubSource().parse(encode(doc), JSON)
    assert err.value.field == field
    assert field in err.value.message


def test_dockerhub_tag_grammar_accepts_real_tags() -> None:
    for tag in ["latest", "1.27.2-alpine", "v2.4.0-rc.1", "_internal", "a" * 128, "SHA-1f2e"]:
        doc = _set(load("dockerhub", "docs_example"), "push_data.tag", tag)
        assert DockerHubSource().parse(encode(doc), JSON).events[0].tag == tag


def test_dockerhub_optional_members_may_be_absent() -> None:
    doc = {"push_data": {}, "repository": {"repo_name": "acme/web"}}
    event = DockerHubSource().parse(encode(doc), JSON).events[0]
    assert (event.tag, event.pusher, event.pushed_at, event.callback_url) == ("", "", None, "")


@pytest.mark.parametrize("body", [b"", b"{", b"nul", b"\xff\xfe{", b"[" * 100_000])
def test_malformed_json_is_a_payload_error_without_field(body: bytes) -> None:
    for source in SOURCES.values():
        with pytest.raises(PayloadError, match="malformed JSON") as err:
            source.parse(body, JSON)
        assert err.value.field is None


def test_dockerhub_body_that_is_not_an_object() -> None:
    with pytest.raises(PayloadError, match="JSON object"):
        DockerHubSource().parse(b"[]", JSON)


def test_repository_grammar_does_not_backtrack_exponentially() -> None:
    # The grammar as Distribution writes it doubles its work per extra "a" in Python's engine.
    name = "a" * 60 + "!"
    doc = _set(load("dockerhub", "docs_example"), "repository.repo_name", name)
    event = _event(target={"repository": name})
    started = time.monotonic()
    with pytest.raises(PayloadError):
        DockerHubSource().parse(encode(doc), JSON)
    assert RegistrySource().parse(encode({"events": [event]}), V1).events == []
    assert time.monotonic() - started < 1


# Distribution -----------------------------------------------------------------------------


MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DIGEST = "sha256:" + "ab" * 32


def _event(**members: Any) -> dict[str, Any]:
    """A manifest push as Distribution sends it; `...` deletes a member."""
    event: dict[str, Any] = {
        "id": "evt-1",
        "timestamp": "2016-03-09T14:44:26.402973972-08:00",
        "action": "push",
        "target": {
            "mediaType": MANIFEST,
            "digest": DIGEST,
            "repository": "acme/web",
            "url": f"http://192.168.100.227:5000/v2/acme/web/manifests/{DIGEST}",
            "tag": "1.0",
        },
        "request": {"id": "req-1", "host": "registry.example:5000", "method": "PUT"},
        "actor": {"name": "ci"},
        "source": {"addr": "xtal.local:5000", "instanceID": "x"},
    }
    for key, value in members.items():
        if isinstance(value, dict) and isinstance(event.get(key), dict):
            event[key] = {k: v for k, v in (event[key] | value).items() if v is not ...}
        elif value is ...:
            del event[key]
        else:
            event[key] = value
    return event


def parse_events(*events: Any, headers: dict[str, str] = V1) -> Any:
    return RegistrySource().parse(encode({"events": list(events)}), headers)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.docker.distribution.events.v1+json",
        "application/vnd.docker.distribution.events.v2+json",
        "application/json",
    ],
)
def test_registry_envelope_content_types(content_type: str) -> None:
    parsed = parse_events(_event(), headers={"content-type": content_type})
    assert [e.delivery_id for e in parsed.events] == ["evt-1"]


@pytest.mark.parametrize(
    "body", [b"[]", b'"events"', b"{}", b'{"events": {}}', b'{"events": null}']
)
def test_registry_not_an_envelope_names_events(body: bytes) -> None:
    with pytest.raises(PayloadError) as err:
        RegistrySource().parse(body, V1)
    assert err.value.field == "events"
    assert "events" in err.value.message


def test_registry_empty_envelope_is_no_events() -> None:
    parsed = parse_events()
    assert (parsed.events, parsed.ignored) == ([], [])


@pytest.mark.parametrize("action", ["pull", "delete", "mount"])
def test_registry_non_push_actions_are_ignored(action: str) -> None:
    parsed = parse_events(_event(action=action))
    assert parsed.events == []
    assert parsed.ignored == [f"event evt-1: {action} ignored"]


@pytest.mark.parametrize(
    "media_type",
    [
        "application/octet-stream",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.config.v1+json",
        None,
    ],
)
def test_registry_blob_pushes_are_ignored(media_type: str | None) -> None:
    parsed = parse_events(_event(target={"mediaType": media_type, "tag": ...}))
    assert parsed.events == []
    assert len(parsed.ignored) == 1
    assert parsed.ignored[0].startswith("event evt-1: blob push ignored")


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    ],
)
def test_registry_manifest_pushes_are_kept_with_or_without_tag(media_type: str) -> None:
    parsed = parse_events(_event(target={"mediaType": media_type, "tag": ...}))
    [event] = parsed.events
    assert (event.media_type, event.tag, event.digest) == (media_type, "", DIGEST)
    assert event.image == f"registry.example:5000/acme/web@{DIGEST}"


def test_registry_tagged_push_is_kept_whatever_its_media_type() -> None:
    parsed = parse_events(_event(target={"mediaType": ..., "tag": "1.0"}))
    assert [e.tag for e in parsed.events] == ["1.0"]


def test_registry_event_fields() -> None:
    [event] = parse_events(_event()).events
    assert event.source == "registry"
    assert event.registry == "registry.example:5000"
    assert (event.repository, event.tag, event.digest) == ("acme/web", "1.0", DIGEST)
    assert (event.pusher, event.media_type, event.callback_url) == ("ci", MANIFEST, "")
    assert event.raw == _event()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-03-09T14:44:26.402973972-08:00", datetime(2016, 3, 9, 22, 44, 26, 402973, UTC)),
        ("2016-03-09T14:44:26.999999999Z", datetime(2016, 3, 9, 14, 44, 26, 999999, UTC)),
        ("2016-03-09T14:44:26.9Z", datetime(2016, 3, 9, 14, 44, 26, 900000, UTC)),
        ("2016-03-09T14:44:26Z", datetime(2016, 3, 9, 14, 44, 26, tzinfo=UTC)),
        ("2016-03-09t14:44:26.5z", datetime(2016, 3, 9, 14, 44, 26, 500000, UTC)),
        ("2024-06-11T08:15:02.1+05:30", datetime(2024, 6, 11, 2, 45, 2, 100000, UTC)),
    ],
)
def test_registry_rfc3339_timestamps_with_nanoseconds(text: str, expected: datetime) -> None:
    [event] = parse_events(_event(timestamp=text)).events
    assert event.pushed_at == expected
    assert event.pushed_at is not None and event.pushed_at.utcoffset() is not None


@pytest.mark.parametrize(
    "text",
    [
        "2016-13-09T14:44:26Z",
        "2016-03-09 14:44",
        "yesterday",
        "2016-03-09T14:44:26",
        "0001-01-01T00:00:00+01:00",
        "\u0662016-03-09T14:44:26Z",
    ],
)
def test_registry_bad_timestamp_is_ignored_naming_it(text: str) -> None:
    parsed = parse_events(_event(timestamp=text))
    assert parsed.events == []
    assert "timestamp" in parsed.ignored[0]


def test_registry_missing_timestamp_is_none() -> None:
    [event] = parse_events(_event(timestamp=...)).events
    assert event.pushed_at is None


@pytest.mark.parametrize(
    ("members", "registry"),
    [
        ({"request": {"host": "Registry.Example:5000"}}, "registry.example:5000"),
        ({"request": {"host": ...}}, "192.168.100.227:5000"),
        ({"request": ...}, "192.168.100.227:5000"),
        (
            {"request": ..., "target": {"url": "https://u:p@[::1]:5000/v2/acme/web/manifests/x"}},
            "[::1]:5000",
        ),
        ({"request": ..., "target": {"url": ...}}, "xtal.local:5000"),
        ({"request": ..., "target": {"url": "not a url"}}, "xtal.local:5000"),
        ({"request": ..., "target": {"url": "http://[::1/v2/"}}, "xtal.local:5000"),
    ],
)
def test_registry_host_fallbacks(members: dict[str, Any], registry: str) -> None:
    [event] = parse_events(_event(**members)).events
    assert event.registry == registry


def test_registry_no_host_at_all_is_ignored() -> None:
    parsed = parse_events(_event(request=..., source=..., target={"url": ...}))
    assert parsed.events == []
    assert "request.host" in parsed.ignored[0]


def test_registry_missing_id_falls_back_to_a_hash_of_the_event() -> None:
    event = _event(id=...)
    reordered = dict(reversed(list(event.items())))
    [a] = parse_events(event).events
    [b] = parse_events(reordered).events
    assert a.delivery_id.startswith("sha256:")
    assert a.delivery_id == b.delivery_id  # canonical: key order does not matter
    [c] = parse_events(_event(id=..., target={"tag": "2.0"})).events
    assert c.delivery_id != a.delivery_id


BAD_EVENTS: list[tuple[Any, str]] = [
    ("not an event", "event #1: not an object"),
    (_event(id=7), "id"),
    (_event(action=...), "action"),
    (_event(action=["push"]), "action"),
    (_event(target=...), "target"),
    (_event(target=[1]), "target"),
    (_event(target={"repository": ...}), "target.repository"),
    (_event(target={"repository": ""}), "target.repository"),
    (_event(target={"repository": 5}), "target.repository"),
    (_event(target={"repository": "Acme/Web"}), "target.repository"),
    (_event(target={"mediaType": 3}), "target.mediaType"),
    (_event(target={"tag": ["1.0"]}), "target.tag"),
    (_event(target={"tag": ".hidden"}), "target.tag"),
    (_event(target={"digest": "sha256"}), "target.digest"),
    (_event(target={"digest": {}}), "target.digest"),
    (_event(target={"url": 80}), "target.url"),
    (_event(request="registry"), "request"),
    (_event(request={"host": 5000}), "request.host"),
    (_event(request={"host": "evil host/x"}), "request.host"),
    (_event(source=[]), "source"),
    (_event(actor="ci"), "actor"),
    (_event(actor={"name": 1}), "actor.name"),
    (_event(timestamp=1457563466), "timestamp"),
]


@pytest.mark.parametrize(("bad", "field"), BAD_EVENTS, ids=[f for _, f in BAD_EVENTS])
def test_one_bad_event_never_drops_its_siblings(bad: Any, field: str) -> None:
    good_before = _event(id="good-1")
    good_after = _event(id="good-2", target={"tag": "2.0"})

    parsed = parse_events(good_before, bad, good_after)

    assert [e.delivery_id for e in parsed.events] == ["good-1", "good-2"]
    assert len(parsed.ignored) == 1
    assert field in parsed.ignored[0]


def test_recorded_envelope_with_bad_events_mixed_in() -> None:
    doc = load("registry", "push_with_blobs")
    doc["events"] += [None, 3, [], {"id": "x"}, _event(id="y", target={"repository": None})]
    parsed = RegistrySource().parse(encode(doc), V1)
    assert [e.delivery_id for e in parsed.events] == ["e6b3f9d2-7a4c-4e1b-b8d5-3f7a9c1e5b28"]
    assert len(parsed.ignored) == 3 + 5
    assert "event y: missing field target.repository" in parsed.ignored
