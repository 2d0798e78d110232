"""Bearer tokens (webhook and API) and a masked wrapper for secrets in transit.

Tokens are 32 random bytes, so they are stored as a plain SHA-256: a slow password
hash (bcrypt, argon2) defends guessable input, and nothing about a 256-bit random token
is guessable. A fast hash keeps every webhook request cheap to verify.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

HOOK_PREFIX = "tgh_"
API_PREFIX = "tga_"


def new_token(prefix: str) -> str:
    """A fresh token: `prefix` + 43 URL-safe characters (32 random bytes).

    The prefix says what the token is, to humans and to secret scanners.
    """
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def verify(token: str, stored_hash: str) -> bool:
    """Whether `token` hashes to `stored_hash`, compared in constant time."""
    return hmac.compare_digest(hash_token(token), stored_hash)


class Secret:
    """A secret value whose repr and str are masked, so logs and tracebacks do not leak
    it (starlette's `Secret`). Call `reveal()` where the value is really needed.

    Not a `str` subclass on purpose: a str subclass still leaks through f-strings,
    `+`, `json.dumps` and every C-level string function.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"{type(self).__name__}('**********')"

    def __str__(self) -> str:
        return "**********"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)
