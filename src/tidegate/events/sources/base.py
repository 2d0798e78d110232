"""The source plug-in contract: one module per registry, one row in `sources/__init__.py`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tidegate.errors import PayloadError
from tidegate.events.sources.auth import NO_AUTH, HookAuth, check_header, header_of
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

    None of these touches the network or the database. `headers` keys are lower-case.
    """

    name: str
    # Whether the sender names the registry in each event (Distribution's
    # `request.host`): a hook of this source may be bound to the registries it serves.
    bindable: bool
    # Whether the sender signs or sends an auth header: its hooks then hold a secret.
    takes_secret: bool
    # The header the secret comes in when the operator names it per hook (ECR's API
    # key connection): its default name. None: the sender fixes it.
    secret_header: str | None

    def verify(self, headers: Mapping[str, str], body: bytes, auth: HookAuth) -> None:
        """Raise `Unverified` (HTTP 401) unless the delivery comes from the sender the
        hook was made for (a signature over the body with the hook's secret, an auth
        header equal to it); the hook's token has already been checked. Runs before
        `parse`, on the exact body received."""
        ...

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        """The pushes the body holds (possibly none: a ping, a pull, a blob push, each
        explained in `ignored`). Raises `PayloadError` naming the field when the body is
        not this source's shape at all, and nothing else, whatever the body."""
        ...

    def sign(self, body: bytes, auth: HookAuth) -> dict[str, str]:
        """The headers with which the sender authenticates `body` to a hook holding
        `auth` ({} for a sender that signs nothing)."""
        ...

    def sample(self, reference: str, *, callback_url: str = "", auth: HookAuth = NO_AUTH) -> Sample:
        """A realistic webhook for a push of `reference` (`namespace/name[:tag]`) that
        `parse` reads back as that push, signed for a hook holding `auth`;
        `callback_url` for a sender that sends one."""
        ...


class Unsigned:
    """The part of a source that signs nothing: the hook's token is all there is."""

    takes_secret = False
    secret_header: str | None = None

    def verify(self, headers: Mapping[str, str], body: bytes, auth: HookAuth) -> None:
        """Nothing to check beyond the URL's token."""

    def sign(self, body: bytes, auth: HookAuth) -> dict[str, str]:
        return {}


class SecretHeader:
    """The part of a source whose sender sends the hook's secret in one header, as is
    or (`bearer`) as `Bearer <secret>`: Harbor's, ACR's and ECR's auth headers."""

    takes_secret = True
    secret_header: str | None = None
    auth_header = "authorization"
    bearer = False

    def header_name(self, auth: HookAuth) -> str:
        """The header the secret comes in (lower-case)."""
        return self.auth_header

    def verify(self, headers: Mapping[str, str], body: bytes, auth: HookAuth) -> None:
        check_header(headers, self.header_name(auth), auth, bearer=self.bearer)

    def sign(self, body: bytes, auth: HookAuth) -> dict[str, str]:
        return header_of(self.header_name(auth), auth, bearer=self.bearer)


def body_hash(body: bytes) -> str:
    """Delivery id for senders that give none: the body's SHA-256."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def nth(delivery_id: str, index: int) -> str:
    """The delivery id of a body's `index`th event when one body holds several pushes
    (a Harbor or Quay body naming several tags): the first keeps the body's own."""
    return delivery_id if index == 0 else f"{delivery_id}#{index}"


def split_reference(reference: str) -> tuple[str, str]:
    """`acme/web:v1.2.3` → ("acme/web", "v1.2.3"); no tag means "latest"."""
    name, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        return reference, "latest"
    return name, tag


def load_json(body: bytes | str) -> Any:
    """The body as JSON; a PayloadError (no field) when it is not."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise PayloadError(f"malformed JSON: {exc}") from exc
