"""Browser sessions: the cookie carries a token; the database keeps its hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidegate.security.tokens import hash_token, verify
from tidegate.store.ids import new_id
from tidegate.store.models import WebSession, utcnow


def create_session(
    session: Session,
    *,
    token: str,
    user: str,
    role: str,
    csrf: str,
    expires_at: datetime,
    groups: list[str] | None = None,
) -> WebSession:
    row = WebSession(
        id=new_id("ws"),
        token_hash=hash_token(token),
        user=user,
        role=role,
        csrf=csrf,
        expires_at=expires_at,
        groups=list(groups or []),
    )
    session.add(row)
    session.flush()
    return row


def find_session(session: Session, token: str) -> WebSession | None:
    """The live session for this cookie token: not ended, not expired."""
    row = session.scalar(select(WebSession).where(WebSession.token_hash == hash_token(token)))
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        return None
    return row if verify(token, row.token_hash) else None


def end_session(session: Session, token: str) -> None:
    row = session.scalar(select(WebSession).where(WebSession.token_hash == hash_token(token)))
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
