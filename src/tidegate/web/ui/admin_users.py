"""`/admin/users…`: local users created, disabled, given a password or a role.

Rows are named by user name in a form field (names may hold `/` and other characters a
path would have to escape). An admin cannot disable or demote themselves here: that
would lock the last admin out as easily as anyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response

from tidegate.errors import Conflict, NotFound
from tidegate.security.passwords import hash_password, password_problem
from tidegate.signin.usernames import user_name_problem
from tidegate.store import audit, users
from tidegate.store.credentials import ROLES
from tidegate.store.models import User
from tidegate.web.state import app_state
from tidegate.web.ui.access import Page, checked_form
from tidegate.web.ui.admin import ADMIN, Refused, admin_page, done, missing
from tidegate.web.ui.forms import field, name_problem
from tidegate.web.ui.session import SignedIn

router = APIRouter(include_in_schema=False)

NAME_MAX = 200  # users.name

# What a form does to an existing user, in the transaction that audits it: returns the
# audit entry's detail; raises Conflict (nothing changes, the form shows why) when it
# does not apply to this user.
Apply = Callable[[Session, User], str]


def _role_problem(role: str) -> str | None:
    return None if role in ROLES else f"the role must be one of {', '.join(ROLES)}"


@router.post(f"{ADMIN}/users")
async def create_user(request: Request, signed: Page) -> Response:
    form = await checked_form(request, signed, "admin")
    name, role, password = field(form, "name"), field(form, "role"), field(form, "password")
    values = {"name": name, "role": role}
    problem = user_name_problem(name)  # as `tidegate user create` and OIDC sign-in check
    problem = f"the user name {problem}" if problem else _role_problem(role)
    problem = problem or password_problem(password)
    if problem is not None:
        return await admin_page(request, signed, Refused("user", problem, values))
    state, actor = app_state(request), signed.caller.user
    hashed = await asyncio.to_thread(hash_password, password)

    def create() -> bool:
        try:
            with state.db.session() as session:
                if users.find_user(session, name) is not None:
                    return False
                users.create_user(session, name, role, hashed)
                audit.record(session, actor, "user.create", name, role)
        except IntegrityError:  # created by someone else at the same moment
            return False
        return True

    if not await asyncio.to_thread(create):
        refused = Refused("user", f"a user named {name!r} exists already", values)
        return await admin_page(request, signed, refused)
    return done(request, signed, f"User {name} ({role}) created.")


async def _change(
    request: Request,
    signed: SignedIn,
    name: str,
    action: str,
    apply: Apply,
    message: str,
    refused: Refused | None = None,
) -> Response:
    """Apply a form to user `name`, audit it, and go back to the page saying `message`;
    the page instead when the form was `refused` (422), there is no such user (404), or
    `apply` refused (422)."""
    if refused is not None:
        return await admin_page(request, signed, refused)
    state, actor = app_state(request), signed.caller.user

    def change() -> None:
        with state.db.session() as session:
            known = name_problem(name, "user name", NAME_MAX) is None  # else never stored
            user = users.find_user(session, name) if known else None
            if user is None:
                raise NotFound(f"user {name!r}")
            audit.record(session, actor, action, name, apply(session, user))

    try:
        await asyncio.to_thread(change)
    except NotFound as exc:
        return await missing(request, signed, exc.message)
    except Conflict as exc:
        return await admin_page(request, signed, Refused("users", exc.message, {"name": name}))
    return done(request, signed, message)


def _not_yourself(signed: SignedIn, name: str, what: str) -> Refused | None:
    if name != signed.caller.user:
        return None
    return Refused("users", f"you cannot {what} your own account: ask another admin")


@router.post(f"{ADMIN}/users/disable")
async def disable_user(request: Request, signed: Page) -> Response:
    form = await checked_form(request, signed, "admin")
    name = field(form, "name")

    def apply(session: Session, user: User) -> str:
        if user.disabled_at is not None:
            raise Conflict(f"{name} is disabled already")
        users.disable_user(session, name)  # ends their sessions too
        return ""

    message = f"User {name} is disabled and signed out."
    refused = _not_yourself(signed, name, "disable")
    return await _change(request, signed, name, "user.disable", apply, message, refused)


@router.post(f"{ADMIN}/users/password")
async def set_password(request: Request, signed: Page) -> Response:
    form = await checked_form(request, signed, "admin")
    name, password = field(form, "name"), field(form, "password")
    problem = password_problem(password)
    if problem is not None:
        refused = Refused("users", f"the new password of {name}: {problem}", {"name": name})
        return await admin_page(request, signed, refused)
    hashed = await asyncio.to_thread(hash_password, password)

    def apply(session: Session, user: User) -> str:
        if user.origin != "local":
            raise Conflict(f"{name} signs in through {user.origin}: there is no password to set")
        # A reset ends what a leaked password let in; one's own session goes on.
        yours = name == signed.caller.user
        users.set_password(session, name, hashed, end_sessions=not yours)
        return "" if yours else "their sessions ended"

    message = f"The password of {name} is set."
    return await _change(request, signed, name, "user.password", apply, message)


@router.post(f"{ADMIN}/users/role")
async def set_role(request: Request, signed: Page) -> Response:
    form = await checked_form(request, signed, "admin")
    name, role = field(form, "name"), field(form, "role")
    refused = _not_yourself(signed, name, "change the role of")
    problem = _role_problem(role)
    if refused is None and problem is not None:
        refused = Refused("users", problem, {"name": name})

    def apply(session: Session, user: User) -> str:
        before = user.role
        users.set_role(session, name, role)
        return f"{before} → {role}"

    message = f"{name} is now {role}."
    return await _change(request, signed, name, "user.role", apply, message, refused)
