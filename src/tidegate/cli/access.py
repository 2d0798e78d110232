"""Hooks and API tokens, on the database: they bootstrap access.

Creating and revoking them is recorded in the audit trail, the actor being `cli_actor()`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.orm import Session

from tidegate.cli.actor import cli_actor
from tidegate.cli.base import JsonFlag, err, fail, hook_app, out, settings, token_app
from tidegate.cli.database import listing, local_db, revoke
from tidegate.errors import NotFound
from tidegate.events.grammar import text_problem
from tidegate.events.hooks import checked_registries, checked_secret, create_hook
from tidegate.events.sources import SOURCES
from tidegate.security.tokens import API_PREFIX, new_token
from tidegate.store import audit, credentials
from tidegate.store.credentials import ROLES, USER_MAX
from tidegate.store.models import ApiToken, Hook

Row = TypeVar("Row", Hook, ApiToken)


@hook_app.command("create")
def hook_create(
    source: Annotated[str, typer.Argument(help=f"One of: {', '.join(sorted(SOURCES))}")],
    name: Annotated[str, typer.Option(help="A name to recognise it by.")] = "",
    registry: Annotated[
        list[str] | None,
        typer.Option(
            "--registry",
            metavar="HOST[:PORT]",
            help="A registry this `registry` hook serves (repeatable): events naming "
            "another host are ignored, and Tidegate may contact this one even on a "
            "private address.",
        ),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            help="The secret the sender signs with or sends (harbor, ghcr, acr, ecr, "
            "artifactory, cloudevents); `-` reads it from stdin. Default: a new one, printed."
        ),
    ] = None,
    secret_header: Annotated[
        str, typer.Option(help="ecr only: the API key header, if not X-Api-Key.")
    ] = "",
) -> None:
    """Create a webhook endpoint and print its URL (shown once: it holds the secret)."""
    if secret == "-":  # noqa: S105 (stdin, not a password)
        secret = sys.stdin.readline().strip()
    try:  # before the database: a typo costs no migration
        registries = checked_registries(source, registry or [])
        checked_secret(source, secret, secret_header)
    except (NotFound, ValueError) as exc:
        raise fail(str(exc)) from exc
    cfg = settings()
    db = local_db(cfg)
    with db.session() as session:
        hook = create_hook(
            session,
            cfg.base_url,
            source,
            name,
            registries,
            actor=cli_actor(),
            secret=secret,
            secret_header=secret_header,
        )
    out.print(hook.url, highlight=False, soft_wrap=True)
    if hook.secret and not secret:  # made here: the sender needs it
        out.print(hook.secret, highlight=False, soft_wrap=True)
    shown = "URL and secret are" if hook.secret and not secret else "URL is"
    err.print(f"hook {hook.row.id} created; the {shown} shown only now.")


@hook_app.command("list")
def hook_list(as_json: JsonFlag = False) -> None:
    """List live webhook endpoints (and the registries a `registry` hook serves)."""
    columns = ["id", "source", "name", "registries", "created_at"]
    listing(credentials.list_hooks, columns, as_json)


@hook_app.command("revoke")
def hook_revoke(hook_id: str) -> None:
    """Revoke a webhook endpoint: its URL answers 404 from now on."""
    revoke("hook", hook_id, _audited(Hook, credentials.revoke_hook, "hook.revoke"))


@token_app.command("create")
def token_create(
    user: str,
    role: Annotated[str, typer.Option(help="admin, approver or viewer")] = "viewer",
) -> None:
    """Create an API token for USER and print it (shown once)."""
    if role not in ROLES:
        err.print(f"error: role must be one of {', '.join(ROLES)}")
        raise typer.Exit(2)
    problem = text_problem(user, USER_MAX)
    if problem is not None:
        err.print(f"error: the user name {problem}")
        raise typer.Exit(2)
    db = local_db(settings())
    token = new_token(API_PREFIX)
    with db.session() as session:
        row = credentials.create_api_token(session, user, role, token)
        audit.record(session, cli_actor(), "token.create", row.id, f"{user} ({role})")
    out.print(token, highlight=False)
    err.print(f"token {row.id} created for {user} ({role}); it is shown only now.")


@token_app.command("list")
def token_list(as_json: JsonFlag = False) -> None:
    """List live API tokens (who and which role; never the tokens themselves)."""
    listing(credentials.list_api_tokens, ["id", "user", "role", "created_at"], as_json)


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke an API token: requests bearing it get 401 from now on."""
    revoke("token", token_id, _audited(ApiToken, credentials.revoke_api_token, "token.revoke"))


def _audited(
    model: type[Row], revoking: Callable[[Session, str], Row | None], action: str
) -> Callable[[Session, str], object | None]:
    """`revoking`, recorded in the audit trail when it revokes a live row."""

    def revoke_and_record(session: Session, row_id: str) -> object | None:
        row = session.get(model, row_id)
        live = row is not None and row.revoked_at is None
        revoked = revoking(session, row_id)
        if live and revoked is not None:
            label = revoked.name if isinstance(revoked, Hook) else f"of {revoked.user}"
            audit.record(session, cli_actor(), action, row_id, label)
        return revoked

    return revoke_and_record
