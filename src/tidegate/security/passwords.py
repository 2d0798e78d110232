"""Passwords of local users: Argon2id (argon2-cffi's defaults, RFC 9106's second choice).

A password is guessable input, unlike our random tokens (security/tokens.py), so it gets
a slow, memory-hard hash. Verifying costs tens of milliseconds on purpose; callers run it
off the event loop.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()

MIN_LENGTH = 8
MAX_LENGTH = 1024  # beyond this, hashing is only a way to spend our CPU


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; False for a user without one (OIDC) or a bad hash.

    Without a hash to check against, a dummy hash is verified anyway, so that the time
    taken does not tell which user names exist.
    """
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(stored_hash)


_DUMMY = _HASHER.hash("tidegate: no such user")
