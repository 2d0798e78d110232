"""Creating a webhook endpoint: the one way, whoever asks (API, CLI, admin page, first start).

A hook is a source and a token; the token is shown once, in its URL, and stored only as
a hash. A `registry` hook may be bound to the registries it serves (binding.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tidegate.events.binding import canonical_registries
from tidegate.events.sources import known_source
from tidegate.security.tokens import HOOK_PREFIX, new_token
from tidegate.store import audit, credentials
from tidegate.store.models import Hook


@dataclass(frozen=True)
class NewHook:
    """A hook just created, with the secret that is shown only now."""

    row: Hook
    token: str
    url: str


def hook_url(base_url: str, source: str, token: str) -> str:
    return f"{base_url}/hooks/{source}/{token}"


def checked_registries(source: str, registries: Sequence[str]) -> list[str]:
    """`registries` canonical, for a hook of `source`: NotFound for an unknown source
    (naming the known ones), ValueError for a registry it cannot be bound to."""
    known_source(source)
    return canonical_registries(source, registries)


def create_hook(
    session: Session,
    base_url: str,
    source: str,
    name: str = "",
    registries: Sequence[str] = (),
    *,
    actor: str | None = None,
) -> NewHook:
    """A new hook of `source`, named `name` (else the source); `registries` binds it
    (see `checked_registries` for what is refused). `actor` is who the audit trail names;
    None records nothing (the first start, which no one asked for)."""
    bound = checked_registries(source, registries)
    token = new_token(HOOK_PREFIX)
    row = credentials.create_hook(session, source, name or source, token, bound)
    if actor is not None:
        shown = f" for {', '.join(row.registries)}" if row.registries else ""
        audit.record(session, actor, "hook.create", row.id, f"{row.source} {row.name!r}{shown}")
    return NewHook(row, token, hook_url(base_url, source, token))
