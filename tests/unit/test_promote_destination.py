"""Where a `promote: {to: …}` reference points."""

from __future__ import annotations

import pytest

from tidegate.engine.steps.promote import destination
from tidegate.errors import StepFailed
from tidegate.registry import RegistryError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acme/web:production", "127.0.0.1:5000/acme/web:production"),
        ("mirror.example.com/acme/web:v1", "mirror.example.com/acme/web:v1"),
        ("localhost:5001/acme/web:v1", "localhost:5001/acme/web:v1"),
        ("127.0.0.1:5002/team/app:prod", "127.0.0.1:5002/team/app:prod"),
    ],
)
def test_destination(text: str, expected: str) -> None:
    assert str(destination(text, "127.0.0.1:5000")) == expected


@pytest.mark.parametrize(
    "text", ["acme/web", "mirror.example.com/acme/web", "acme/web@sha256:" + "a" * 64]
)
def test_a_destination_must_name_a_tag(text: str) -> None:
    with pytest.raises(StepFailed, match="must name a tag"):
        destination(text, "docker.io")


def test_a_bad_reference_is_the_users_error() -> None:
    with pytest.raises(RegistryError):
        destination("Acme/Web:prod", "docker.io")
