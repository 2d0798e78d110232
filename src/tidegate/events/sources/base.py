"""The source plug-in contract: one module per registry, one row in `sources/__init__.py`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from tidegate.image_event import ImageEvent

Sample = tuple[bytes, dict[str, str]]
"""A webhook as its sender would post it: the body, and the headers that go with it."""


@dataclass
class Parsed:
    """What a body held: the image pushes, and why every other entry was ignored."""

    events: list[ImageEvent] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


class Source(Protocol):
    """One kind of sender: checks that a webhook comes from it, turns its body into
    image-push events, and writes a realistic one for `tidegate simulate`.

    None of the three touches the network or the database. `headers` keys are lower-case.
    """

    name: str
    # Whether the sender names the registry in each event (Distribution's
    # `request.host`): a hook of this source may be bound to the registries it serves.
    bindable: bool

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise `Unverified` (HTTP 401) unless the delivery comes from the sender the
        hook was made for (a signature over the body, say); the hook's token has
        already been checked. Runs before `parse`, on the exact body received."""
        ...

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        """The pushes the body holds (possibly none: a ping, a pull, a blob push, each
        explained in `ignored`). Raises `PayloadError` naming the field when the body is
        not this source's shape at all, and nothing else, whatever the body."""
        ...

    def sample(self, reference: str, *, callback_url: str = "") -> Sample:
        """A realistic webhook for a push of `reference` (`namespace/name[:tag]`) that
        `parse` reads back as that push; `callback_url` for a sender that sends one."""
        ...


def body_hash(body: bytes) -> str:
    """Delivery id for senders that give none: the body's SHA-256."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def split_reference(reference: str) -> tuple[str, str]:
    """`acme/web:v1.2.3` → ("acme/web", "v1.2.3"); no tag means "latest"."""
    name, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        return reference, "latest"
    return name, tag
