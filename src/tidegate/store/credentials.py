"""Webhook tokens and API tokens: created, looked up by hash, revoked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tidegate.security.roles import ROLES as ROLES  # re-exported: the one list
from tidegate.security.tokens import hash_token, verify
from tidegate.store.ids import new_id
from tidegate.store.models import ApiToken, Event, Hook, utcnow

USER_MAX = 200  # the width of api_tokens.user

_Secret = TypeVar("_Secret", Hook, ApiToken)  # what is looked up by a token's hash


def create_hook(
    session: Session, source: str, name: str, token: str, registries: Sequence[str] = ()
) -> Hook:
    """A hook; `registries` (canonical host[:port], events/binding.py) binds it to the
    registries it serves. Checked by the caller: events/hooks.py `create_hook`."""
    hook = Hook(
        id=new_id("hk"),
        source=source,
        name=name,
        token_hash=hash_token(token),
        registries=list(registries),
    )
    session.add(hook)
    session.flush()
    return hook


def find_hook(session: Session, source: str, token: str) -> Hook | None:
    """The live hook for this token and source, else None.

    The lookup is by the token's SHA-256, so the database's comparison sees only a
    hash and its timing says nothing about the token; the final check is constant-time.
    """
    hook = session.scalar(select(Hook).where(Hook.token_hash == hash_token(token)))
    if hook is None or hook.revoked_at is not None or hook.source != source:
        return None
    return hook if verify(token, hook.token_hash) else None


def hook_by_hash(session: Session, token_hash: str) -> tuple[str, str, str, str] | None:
    """(id, source, secret, secret header) of the live hook whose token has this SHA-256
    ("" for no secret or the default header), else None (one indexed read: the intake's
    cache fills from it)."""
    found = session.execute(
        select(Hook.id, Hook.source, Hook.secret, Hook.secret_header).where(
            Hook.token_hash == token_hash, Hook.revoked_at.is_(None)
        )
    ).first()
    return (found[0], found[1], found[2] or "", found[3] or "") if found is not None else None


_LIVE_REGISTRIES = select(Hook.registries).where(
    Hook.id == bindparam("hook_id"), Hook.revoked_at.is_(None)
)


def live_hook_registries(session: Session, hook_id: str) -> list[str] | None:
    """The registries hook `hook_id` is bound to ([] when unbound); None when it is
    revoked or gone. Read in the delivery's own transaction, so a revocation made by any
    process stops the next delivery (the intake's cache of hooks may not know yet).
    Read once per transaction (a group commit holds many deliveries of one hook)."""
    known: dict[str, list[str] | None] = session.info.setdefault("live_hooks", {})
    if hook_id not in known:
        found = session.connection().execute(_LIVE_REGISTRIES, {"hook_id": hook_id}).first()
        known[hook_id] = [str(r) for r in found[0] or []] if found is not None else None
    return known[hook_id]


def hook_registries(session: Session, hook_id: str | None) -> list[str]:
    """The registries hook `hook_id` is bound to; [] when it is not bound (or is none)."""
    hook = session.get(Hook, hook_id) if hook_id else None
    return [str(r) for r in hook.registries or []] if hook is not None else []


def registries_of_event(session: Session, event_id: str) -> list[str]:
    """The registries the hook `event_id` came in on is bound to: [] when it is not
    bound, or the event came without a hook (a replay keeps its event's hook)."""
    hook_id = session.scalar(select(Event.hook_id).where(Event.id == event_id))
    return hook_registries(session, hook_id)


def list_hooks(session: Session, include_revoked: bool = False) -> list[Hook]:
    return _listed(session, Hook, include_revoked)


class _Revocations:
    """How many hooks this process has revoked: a cache of live hooks drops what it
    holds when the count moves, so a revocation made here is seen before the next
    body is read (another process's, by `live_hook_registries` at the latest)."""

    count = 0


def revocations() -> int:
    return _Revocations.count


def revoke_hook(session: Session, hook_id: str) -> Hook | None:
    """Revoke a hook: its URL answers 404 from now on."""
    _Revocations.count += 1  # before and whether or not it commits: a cache refill is cheap
    return _revoked(session, Hook, hook_id)


def create_api_token(session: Session, user: str, role: str, token: str) -> ApiToken:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    row = ApiToken(id=new_id("tk"), user=user, role=role, token_hash=hash_token(token))
    session.add(row)
    session.flush()
    return row


def find_api_token(session: Session, token: str) -> ApiToken | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    return row if verify(token, row.token_hash) else None


def list_api_tokens(session: Session, include_revoked: bool = False) -> list[ApiToken]:
    return _listed(session, ApiToken, include_revoked)


def revoke_api_token(session: Session, token_id: str) -> ApiToken | None:
    """Revoke an API token: requests bearing it get 401 from now on."""
    return _revoked(session, ApiToken, token_id)


def _listed(session: Session, model: type[_Secret], include_revoked: bool) -> list[_Secret]:
    query = select(model).order_by(model.created_at)
    if not include_revoked:
        query = query.where(model.revoked_at.is_(None))
    return list(session.scalars(query))


def _revoked(session: Session, model: type[_Secret], row_id: str) -> _Secret | None:
    row = session.get(model, row_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()  # the first revocation's time is kept
    return row
