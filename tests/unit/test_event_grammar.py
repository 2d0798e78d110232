"""The field grammar every event is held to before it is stored."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidegate.events import grammar
from tidegate.image_event import ImageEvent


def event(**changes: Any) -> ImageEvent:
    values: dict[str, Any] = {
        "source": "registry",
        "delivery_id": "evt-1",
        "registry": "registry.example.com:5000",
        "repository": "acme/web",
        "tag": "v1.2.3",
        "digest": "sha256:" + "a" * 64,
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "pusher": "ci-bot",
        "raw": {"id": "evt-1"},
    }
    values.update(changes)
    return ImageEvent(**values)


def test_a_realistic_event_is_valid() -> None:
    assert grammar.event_problem(event()) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("digest", "sha512:" + "0" * 128),
        ("digest", "sha256:" + "f" * 64),
        ("digest", "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"),
        ("pusher", "p" * 255),
        ("pusher", 'O\'Brien "$(id)" `uname`; rm -rf / && echo | cat'),
        ("pusher", "CN=Jane Doe,OU=Release,DC=example,DC=com"),
        ("pusher", "名前"),
        ("delivery_id", "i" * 255),
        ("media_type", 'application/vnd.docker.distribution.manifest.v2+json; charset="utf-8"'),
        ("registry", "[::1]:5000"),
        ("callback_url", "https://registry.hub.docker.com/u/acme/web/hook/2d1ae4/"),
        ("tag", "a" * 128),
        ("repository", "a/" * 100 + "b"),
    ],
)
def test_values_the_grammar_admits(field: str, value: str) -> None:
    assert grammar.event_problem(event(**{field: value})) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("digest", "sha512:" + "0" * 127),
        ("digest", "sha256:" + "A" * 64),
        ("digest", "sha256:" + "a" * 64 + "\n"),
        ("digest", "x" * 300),
        ("pusher", "p" * 256),
        ("pusher", "nul\x00"),
        ("pusher", "tab\there"),
        ("pusher", "line\u2028separator"),
        ("pusher", "paragraph\u2029separator"),
        ("pusher", "lone\ud800surrogate"),
        ("pusher", "escape\x1b[31m"),
        ("pusher", "c1\x85"),
        ("delivery_id", "i" * 256),
        ("media_type", "m" * 300),
        ("media_type", "text/plain\x00"),
        ("media_type", "no slash"),
        ("registry", "evil.example.com/path"),
        ("registry", "host:99999999"),
        ("callback_url", "javascript:alert(1)"),
        ("callback_url", "https://x/" + "u" * 2048),
        ("callback_url", "https://exa mple.com/"),
        ("tag", "a" * 129),
        ("tag", "../etc"),
        ("tag", "-leading"),
        ("repository", "UPPER/case"),
        ("repository", "a/" * 200 + "b"),
    ],
)
def test_values_past_the_grammar_name_their_field(field: str, value: str) -> None:
    problem = grammar.event_problem(event(**{field: value}))
    assert problem is not None
    assert problem[0] == field


def test_raw_problems_name_the_member() -> None:
    problem = grammar.event_problem(event(raw={"actor": {"name": "\udc00"}}))
    assert problem == (
        "raw.actor.name",
        "holds a lone surrogate (text that is not valid Unicode)",
    )
    deep: Any = "x"
    for _ in range(grammar.MAX_DEPTH + 5):
        deep = [deep]
    problem = grammar.event_problem(event(raw={"a": deep}))
    assert problem is not None and problem[0].startswith("raw.a.0")
    assert "nested deeper" in problem[1]


def test_raw_at_the_depth_limit_is_fine() -> None:
    doc: Any = "x"
    for _ in range(grammar.MAX_DEPTH - 1):
        doc = {"n": doc}
    assert grammar.raw_problem({"top": doc}) is None


def test_a_very_deep_document_is_judged_without_recursion() -> None:
    doc: Any = "x"
    for _ in range(100_000):
        doc = [doc]
    problem = grammar.raw_problem(doc)
    assert problem is not None and "nested deeper" in problem[1]


@settings(max_examples=300, database=None, deadline=None)
@given(st.text(max_size=300))
def test_accepted_free_text_is_one_printable_line(text: str) -> None:
    if grammar.text_problem(text) is None:
        assert len(text) <= grammar.NAME_MAX
        assert "\n" not in text and "\x00" not in text and "\u2028" not in text
        text.encode("utf-8")  # never raises for accepted text
