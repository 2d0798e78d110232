"""Local and OIDC users: created, looked up by name, disabled, given a new password."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tidegate.store.ids import new_id
from tidegate.store.models import User, WebSession, utcnow


def create_user(
    session: Session, name: str, role: str, password_hash: str | None, origin: str = "local"
) -> User:
    user = User(id=new_id("us"), name=name, role=role, password_hash=password_hash, origin=origin)
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def list_users(session: Session, include_disabled: bool = True) -> list[User]:
    query = select(User).order_by(User.name)
    if not include_disabled:
        query = query.where(User.disabled_at.is_(None))
    return list(session.scalars(query))


def set_password(
    session: Session, name: str, password_hash: str, *, end_sessions: bool = True
) -> User | None:
    """A new password; by default it also ends the user's sessions, which the old one
    (perhaps leaked) may have opened."""
    user = find_user(session, name)
    if user is not None:
        user.password_hash = password_hash
        if end_sessions:
            _live_sessions(session, name, ended_at=utcnow())
    return user


def set_role(session: Session, name: str, role: str) -> User | None:
    """A new role, at once in the user's live sessions too (each stores its role)."""
    user = find_user(session, name)
    if user is not None:
        user.role = role
        _live_sessions(session, name, role=role)
    return user


def _live_sessions(session: Session, name: str, **values: object) -> None:
    live = (WebSession.user == name) & WebSession.ended_at.is_(None)
    session.execute(update(WebSession).where(live).values(**values))


def disable_user(session: Session, name: str) -> User | None:
    """Disable a user and end their sessions: their next page asks them to sign in."""
    user = find_user(session, name)
    if user is None:
        return None
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    _live_sessions(session, name, ended_at=utcnow())
    return user
