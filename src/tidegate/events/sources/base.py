"""The source plug-in contract: one module per registry, registered in `sources/__init__.py`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from tidegate.events.model import ImageEvent


@dataclass
class Parsed:
    """What a body held: the image pushes, and why every other entry was ignored."""

    events: list[ImageEvent] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


class Source(Protocol):
    """Turns one webhook body into image-push events.

    `parse` never touches the network or the database. It returns the pushes it finds
    (possibly none: a ping, a pull, a blob push, each explained in `ignored`) and raises
    `PayloadError` naming the field when the body is not this source's shape at all. It
    never raises anything else, whatever the body.
    """

    name: str

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        """Events in the body; `headers` keys are lower-case."""
        ...
