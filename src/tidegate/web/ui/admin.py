"""`/admin`: hooks, API tokens and users, for admins only.

Every form is a POST checked for the admin role and then the session's CSRF token
(`checked_form`); it changes one thing, records who did it in the audit trail in the
same transaction, and answers 303 back to the page. A new hook URL or API token is
shown once, on the page after the redirect (see flash.py); the database keeps only its
hash. Invalid input is shown on the page with 422; an unknown id is a 404.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from tidegate.events import hooks
from tidegate.events.sources import SOURCES
from tidegate.events.sources.auth import new_secret
from tidegate.security.tokens import API_PREFIX, new_token
from tidegate.signin.usernames import user_name_problem
from tidegate.store import audit, credentials, users
from tidegate.store.credentials import ROLES
from tidegate.store.models import ApiToken, Hook, User
from tidegate.web.schemas import HookCreate
from tidegate.web.state import AppState, app_state
from tidegate.web.ui import pagefmt
from tidegate.web.ui.access import Page, checked_form
from tidegate.web.ui.flash import Flash, clear_flash, set_flash, take_flash
from tidegate.web.ui.forms import field as form_field
from tidegate.web.ui.forms import is_id
from tidegate.web.ui.session import SignedIn
from tidegate.web.ui.templating import notice, render

router = APIRouter(include_in_schema=False)

ADMIN = "/admin"


@dataclass(frozen=True)
class Refused:
    """A form that was not accepted: which one, why, and what it held (to fill it again)."""

    form: str  # "hook", "token", "user" (create) or "users" (a row's action)
    message: str
    values: dict[str, str] = field(default_factory=dict)


def _listing(state: AppState) -> tuple[list[Hook], list[ApiToken], list[User]]:
    with state.db.session() as session:
        return (
            credentials.list_hooks(session),
            credentials.list_api_tokens(session),
            users.list_users(session),
        )


async def admin_page(
    request: Request, signed: SignedIn, refused: Refused | None = None
) -> Response:
    """The page; with `refused`, the form's problem next to it and the page's status."""
    state = app_state(request)
    if not signed.caller.ranks("admin"):
        message = "Managing hooks, API tokens and users needs the admin role."
        return await notice(request, signed, 403, "Admins only", message)
    hooks, tokens, people = await asyncio.to_thread(_listing, state)
    flash = take_flash(request, signed) if refused is None else None
    response = await render(
        request,
        "admin.html",
        signed,
        status_code=422 if refused else 200,
        section="admin",
        hooks=hooks,
        tokens=tokens,
        users=people,
        flash=flash,
        refused=refused,
        values=refused.values if refused else {},
        sources=sorted(SOURCES),
        new_secret=new_secret(),  # offered in the hook form: copied now, or replaced
        roles=ROLES,
        fmt=pagefmt,
    )
    if flash is not None:
        clear_flash(response, ADMIN)
    # A new secret is on this page once: no copy of it in the browser's cache or history.
    response.headers["Cache-Control"] = "no-store"
    return response


def done(
    request: Request, signed: SignedIn, message: str, secret: str = "", label: str = ""
) -> Response:
    """The answer to an accepted form: back to the page, which says `message` once (at
    `#done`, where the browser goes, so a new secret is in view and read out first)."""
    response = RedirectResponse(f"{ADMIN}#done", 303, headers={"Cache-Control": "no-store"})
    set_flash(response, app_state(request), signed, ADMIN, Flash(message, secret, label))
    return response


async def missing(request: Request, signed: SignedIn, what: str) -> Response:
    message = f"There is no {what}."
    back = {"section": "admin", "back": ADMIN, "back_label": "Back to Admin"}
    return await notice(request, signed, 404, "Not found", message, **back)


@router.get(ADMIN)
async def admin(request: Request, signed: Page) -> Response:
    return await admin_page(request, signed)


def _pydantic_problem(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


@router.post(f"{ADMIN}/hooks")
async def create_hook(request: Request, signed: Page) -> Response:
    form = await checked_form(request, signed, "admin")
    keys = ("source", "name", "registries", "secret", "secret_header")
    values = {k: form_field(form, k) for k in keys}
    if values["source"] not in SOURCES:
        refused = Refused("hook", f"choose a source: {', '.join(sorted(SOURCES))}", values)
        return await admin_page(request, signed, refused)
    registries = [r for r in re.split(r"[\s,]+", values["registries"]) if r]
    # The form offers a secret whatever the source: one that signs nothing takes none.
    signs = SOURCES[values["source"]].takes_secret
    if signs and not values["secret"]:  # one made here could not be shown
        refused = Refused("hook", f"a {values['source']} hook needs a secret", values)
        return await admin_page(request, signed, refused)
    try:
        body = HookCreate(
            source=values["source"],
            name=values["name"],
            registries=registries,
            secret=values["secret"] if signs else None,
            secret_header=values["secret_header"] if signs else "",
        )
    except ValidationError as exc:
        return await admin_page(request, signed, Refused("hook", _pydantic_problem(exc), values))
    state, actor = app_state(request), signed.caller.user

    def create() -> hooks.NewHook:
        with state.db.session() as session:
            return hooks.create_hook(
                session,
                state.settings.base_url,
                body.source,
                body.name,
                body.registries,
                actor=actor,
                secret=body.secret,
                secret_header=body.secret_header,
            )

    new = await asyncio.to_thread(create)
    message = f"Hook {new.row.name} ({new.row.source}) created. Give this URL to the registry"
    message += ", with the secret of the form." if new.secret else "."
    return done(request, signed, message, new.url, "Webhook URL")


@router.post(ADMIN + "/hooks/{hook_id}/revoke")
async def revoke_hook(request: Request, signed: Page, hook_id: str) -> Response:
    await checked_form(request, signed, "admin")
    return await _revoke(request, signed, "hook", hook_id)


@router.post(f"{ADMIN}/tokens")
async def create_token(request: Request, signed: Page) -> Response:
    form = await checked_form(request, signed, "admin")
    values = {k: form_field(form, k) for k in ("user", "role")}
    problem = user_name_problem(values["user"])
    problem = f"the user name {problem}" if problem else None
    if problem is None and values["role"] not in ROLES:
        problem = f"the role must be one of {', '.join(ROLES)}"
    if problem is not None:
        return await admin_page(request, signed, Refused("token", problem, values))
    state, actor = app_state(request), signed.caller.user

    def create() -> tuple[ApiToken, str]:
        token = new_token(API_PREFIX)
        with state.db.session() as session:
            row = credentials.create_api_token(session, values["user"], values["role"], token)
            audit.record(session, actor, "token.create", row.id, f"{row.user} ({row.role})")
        return row, token

    row, token = await asyncio.to_thread(create)
    message = f"API token {row.id} created for {row.user} ({row.role})."
    return done(request, signed, message, token, "API token")


@router.post(ADMIN + "/tokens/{token_id}/revoke")
async def revoke_token(request: Request, signed: Page, token_id: str) -> Response:
    await checked_form(request, signed, "admin")
    return await _revoke(request, signed, "token", token_id)


_REVOCABLE: dict[str, Any] = {
    "hook": (Hook, credentials.revoke_hook, "hook.revoke"),
    "token": (ApiToken, credentials.revoke_api_token, "token.revoke"),
}


async def _revoke(request: Request, signed: SignedIn, kind: str, row_id: str) -> Response:
    model, revoke, action = _REVOCABLE[kind]
    state, actor = app_state(request), signed.caller.user

    def change() -> str | None:
        with state.db.session() as session:
            row = session.get(model, row_id)
            if row is None:
                return None
            if row.revoked_at is not None:
                return f"The {kind} {row_id} was revoked already."
            revoke(session, row_id)
            label = row.name if isinstance(row, Hook) else f"of {row.user}"
            audit.record(session, actor, action, row_id, label)
            return f"The {kind} {row_id} ({label}) is revoked."

    message = await asyncio.to_thread(change) if is_id(row_id) else None
    if message is None:
        return await missing(request, signed, f"{kind} {row_id}")
    return done(request, signed, message)
