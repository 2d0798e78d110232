"""Creating a webhook endpoint: the one way, whoever asks (API, CLI, admin page, first start).

A hook is a source and a token; the token is shown once, in its URL, and stored only as
a hash. A `registry` hook may be bound to the registries it serves (binding.py). A hook
of a source that signs or sends an auth header holds a secret (sources/auth.py): the
one given, or a new one; shown once, like the token, and kept as is (an HMAC needs it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tidegate.events.binding import canonical_registries
from tidegate.events.sources import known_source
from tidegate.events.sources.auth import header_problem, new_secret, secret_problem
from tidegate.security.tokens import HOOK_PREFIX, new_token
from tidegate.store import audit, credentials
from tidegate.store.models import Hook


@dataclass(frozen=True)
class NewHook:
    """A hook just created, with the secret that is shown only now."""

    row: Hook
    token: str
    url: str
    secret: str = ""  # the hook's secret, for a source that takes one


def hook_url(base_url: str, source: str, token: str) -> str:
    return f"{base_url}/hooks/{source}/{token}"


def checked_registries(source: str, registries: Sequence[str]) -> list[str]:
    """`registries` canonical, for a hook of `source`: NotFound for an unknown source
    (naming the known ones), ValueError for a registry it cannot be bound to."""
    known_source(source)
    return canonical_registries(source, registries)


def checked_secret(source: str, secret: str | None, header: str = "") -> tuple[str, str]:
    """(secret, header) for a new hook of `source`: the secret given, or a new one for a
    source that takes one; ValueError for a secret or header it cannot take."""
    known = known_source(source)
    if not known.takes_secret:
        if secret or header:
            raise ValueError(f"{source} signs nothing: its hooks take no secret (the URL is one)")
        return "", ""
    if header and known.secret_header is None:
        raise ValueError(f"{source} sends its secret in a header of its own choosing")
    problem = secret_problem(secret) if secret else None
    problem = problem or (header_problem(header) if header else None)
    if problem is not None:
        raise ValueError(problem)
    return secret or new_secret(), header.lower()


def create_hook(
    session: Session,
    base_url: str,
    source: str,
    name: str = "",
    registries: Sequence[str] = (),
    *,
    actor: str | None = None,
    secret: str | None = None,
    secret_header: str = "",
) -> NewHook:
    """A new hook of `source`, named `name` (else the source); `registries` binds it
    (see `checked_registries` for what is refused), `secret` is what its sender signs
    with (see `checked_secret`), `secret_header` where ECR sends it. `actor` is who the
    audit trail names; None records nothing (the first start, which no one asked for)."""
    bound = checked_registries(source, registries)
    secret, secret_header = checked_secret(source, secret, secret_header)
    token = new_token(HOOK_PREFIX)
    row = credentials.create_hook(session, source, name or source, token, bound)
    row.secret, row.secret_header = secret or None, secret_header or None
    if actor is not None:
        shown = f" for {', '.join(row.registries)}" if row.registries else ""
        audit.record(session, actor, "hook.create", row.id, f"{row.source} {row.name!r}{shown}")
    return NewHook(row, token, hook_url(base_url, source, token), secret)
