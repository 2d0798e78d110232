"""Binding a `registry` hook to the registries it serves: validation and the refusal."""

from __future__ import annotations

import pytest

from tidegate.events.binding import canonical_registries, canonical_registry, refusal


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("registry.example.com", "registry.example.com"),
        ("Registry.Example.COM:5000", "registry.example.com:5000"),
        ("registry.example.com:443", "registry.example.com"),
        ("registry.example.com.", "registry.example.com"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("[0:0::1]:5000", "[::1]:5000"),
        ("[::1]", "[::1]"),
        ("localhost", "localhost"),
    ],
)
def test_canonical(text: str, canonical: str) -> None:
    assert canonical_registry(text) == canonical


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "at most 255"),
        ("a" * 256, "at most 255"),
        ("https://registry.example.com", "leave out scheme"),
        ("registry.example.com/acme", "leave out scheme"),
        ("user@registry.example.com", "leave out scheme"),
        ("registry.example.com:0", "port must be"),
        ("registry.example.com:65536", "port must be"),
        ("registry.example.com:http", "port must be"),
        ("*", "not a host name"),
        ("*.example.com", "not a host name"),
        ("-registry.example.com", "not a host name"),
        ("reg istry", "not a host name"),
        ("::1", "in brackets"),
        ("[::1", "not a valid"),
        ("[nope]:5000", "not a valid IPv6"),
        ("010.0.0.1", "not a valid IPv4"),
        ("1.2.3", "not a valid IPv4"),
    ],
)
def test_invalid(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        canonical_registry(text)


def test_registries_are_for_registry_hooks_only() -> None:
    assert canonical_registries("registry", ["A.test", "a.test:443", "b.test:5000"]) == [
        "a.test",
        "b.test:5000",
    ]
    assert canonical_registries("dockerhub", []) == []
    with pytest.raises(ValueError, match="only registry, harbor, .* hooks are bound"):
        canonical_registries("dockerhub", ["a.test"])


@pytest.mark.parametrize(
    ("event_registry", "bound", "ignored"),
    [
        ("127.0.0.1:9", [], False),  # not bound: the allow-list judges
        ("registry.example.com", ["registry.example.com"], False),
        ("REGISTRY.example.com:443", ["registry.example.com"], False),
        ("registry.example.com", ["registry.example.com:443"], False),
        ("registry.example.com:5000", ["registry.example.com"], True),
        ("registry.example.com", ["registry.example.com:5000"], True),
        ("127.0.0.1:9", ["registry.example.com", "10.0.0.5:5000"], True),
        ("[0::1]:5000", ["[::1]:5000"], False),
        ("not a host", ["registry.example.com"], True),
    ],
)
def test_refusal(event_registry: str, bound: list[str], ignored: bool) -> None:
    reason = refusal(event_registry, bound)
    assert (reason is not None) is ignored
    if reason is not None:
        assert reason == (
            f"request.host {event_registry!r} is not a registry this hook serves"
            f" ({', '.join(bound)})"
        )
