"""`tidegate user …`: the web UI's local users, on the database (like hooks and tokens).

Every change is recorded in the audit trail with `cli_actor()` as the actor. A new role
or password reaches live browser sessions at once: a new role is written to them, a new
password ends them (what a leaked one let in is shut out).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tidegate.cli.actor import cli_actor
from tidegate.cli.base import JsonFlag, app, err, fail, out, settings
from tidegate.cli.database import listing, local_db
from tidegate.security.passwords import hash_password, password_problem
from tidegate.signin.usernames import user_name_problem
from tidegate.store import audit, users
from tidegate.store.credentials import ROLES
from tidegate.store.models import User

user_app = typer.Typer(no_args_is_help=True, help="Web UI users (local, or from OIDC).")
app.add_typer(user_app, name="user")

RoleOption = Annotated[str, typer.Option("--role", help="viewer, approver or admin")]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (one trailing newline is dropped); "
        "otherwise it is asked for twice, hidden.",
    ),
]


@user_app.command("create")
def user_create(name: str, role: RoleOption = "viewer", from_stdin: PasswordStdin = False) -> None:
    """Create a local user who signs in to the web UI with a password."""
    _check_name(name)
    _check_role(role)
    hashed = hash_password(_new_password(from_stdin))
    try:
        with local_db(settings()).session() as session:
            if users.find_user(session, name) is not None:
                raise fail(f"user {name} exists already")
            users.create_user(session, name, role, hashed)
            audit.record(session, cli_actor(), "user.create", name, role)
    except IntegrityError as exc:  # created by someone else at the same moment
        raise fail(f"user {name} exists already") from exc
    out.print(f"user {name} created ({role})", highlight=False)


@user_app.command("list")
def user_list(as_json: JsonFlag = False) -> None:
    """List users: name, role, where they sign in (local or oidc), disabled or not."""
    listing(users.list_users, ["name", "role", "origin", "created_at", "disabled_at"], as_json)


@user_app.command("disable")
def user_disable(name: str) -> None:
    """Disable a user: their sessions end and they cannot sign in again (OIDC users too)."""
    with local_db(settings()).session() as session:
        user = _existing(session, name)
        if user.disabled_at is not None:
            out.print(f"user {name} is disabled already", highlight=False)
            return
        users.disable_user(session, name)
        audit.record(session, cli_actor(), "user.disable", name)
    out.print(f"user {name} disabled and signed out", highlight=False)


@user_app.command("passwd")
def user_passwd(name: str, from_stdin: PasswordStdin = False) -> None:
    """Set a local user's password; their browser sessions end."""
    db = local_db(settings())
    with db.session() as session:  # before asking for a password it could not take
        _local(_existing(session, name))
    hashed = hash_password(_new_password(from_stdin))
    with db.session() as session:
        _local(_existing(session, name))
        users.set_password(session, name, hashed)
        audit.record(session, cli_actor(), "user.password", name, "their sessions ended")
    out.print(f"password of {name} set; their sessions ended", highlight=False)


@user_app.command("role")
def user_role(name: str, role: str) -> None:
    """Give a user another role, at once in their live sessions too."""
    _check_role(role)
    with local_db(settings()).session() as session:
        user = _existing(session, name)
        before = user.role
        users.set_role(session, name, role)
        audit.record(session, cli_actor(), "user.role", name, f"{before} → {role}")
        origin = user.origin
    out.print(f"{name} is now {role}", highlight=False)
    if origin == "oidc":
        err.print(f"note: {name} signs in through OIDC: the next sign-in sets the role again.")


def _check_name(name: str) -> None:
    problem = user_name_problem(name)
    if problem is not None:
        err.print(f"error: the user name {problem}", highlight=False)
        raise typer.Exit(2)


def _check_role(role: str) -> None:
    if role not in ROLES:
        err.print(f"error: role must be one of {', '.join(ROLES)}", highlight=False)
        raise typer.Exit(2)


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.read()
        password = password.removesuffix("\n").removesuffix("\r")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem is not None:
        err.print(f"error: {problem}", highlight=False)
        raise typer.Exit(2)
    return password


def _existing(session: Session, name: str) -> User:
    user = users.find_user(session, name)
    if user is None:
        raise fail(f"user {name} does not exist")
    return user


def _local(user: User) -> None:
    if user.origin != "local":
        raise fail(f"{user.name} signs in through {user.origin}: there is no password to set")
