"""What a hook holds to check its sender, and the checks the sources share.

A source that signs or sends an auth header (Harbor, GHCR, ACR, ECR, Artifactory,
CloudEvents) is checked against its hook's secret, which is kept as given: an HMAC needs
the secret itself, not a hash of it. It is shown once, when the hook is made, and never
in a log line or an error message (the messages below name headers, never values).

Every comparison is constant-time (`hmac.compare_digest`), over UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client import Counter

from tidegate.errors import Unverified

SECRET_MIN = 16  # a short, guessable secret is none; a generated one is 43 characters
SECRET_MAX = 512
HEADER_MAX = 100
_HEADER_NAME_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # RFC 9110 token

REFUSED = Counter(
    "tidegate_webhooks_unverified",
    "Deliveries refused with 401 (missing or wrong signature or auth header), by source "
    "and reason. Kept by the process that refused them: sum across processes.",
    ["source", "reason"],
    registry=None,  # added to each app's registry (web/metrics.py)
)


@dataclass(frozen=True)
class HookAuth:
    """A hook's means of checking its sender: its secret ("" when its source signs
    nothing), and for a source whose header name the operator picks (ECR's API key
    connection), that name ("" for the source's default)."""

    secret: str = ""
    header: str = ""


NO_AUTH = HookAuth()


class Refused(Unverified):
    """A 401 with a reason for `/metrics`: missing, mismatch, no_secret or unknown_key
    (gar_oidc.py)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def count_refusal(source: str, exc: Unverified) -> None:
    """One more refused delivery of `source` in `/metrics`."""
    REFUSED.labels(source=source, reason=getattr(exc, "reason", "mismatch")).inc()


def new_secret() -> str:
    """A secret for a hook made without one: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def secret_problem(secret: str) -> str | None:
    """Why `secret` cannot be a hook's secret, or None. It travels in an HTTP header
    (Harbor, ACR, ECR send it verbatim): printable ASCII, no edge spaces, bounded."""
    if not SECRET_MIN <= len(secret) <= SECRET_MAX:
        return f"the secret must be {SECRET_MIN} to {SECRET_MAX} characters long"
    if not secret.isascii() or not secret.isprintable() or secret != secret.strip():
        return "the secret must be printable ASCII, without leading or trailing spaces"
    return None


def header_problem(name: str) -> str | None:
    """Why `name` cannot be a header name a hook reads its secret from, or None."""
    if len(name) > HEADER_MAX or not _HEADER_NAME_RE.fullmatch(name):
        return f"the header name must be an HTTP header name of at most {HEADER_MAX} characters"
    return None


def same(given: str, expected: str) -> bool:
    """`given == expected` in constant time (for strings of any length or content)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def hmac_sha256(secret: str, body: bytes) -> str:
    """The lower-case hex HMAC-SHA256 of `body` under `secret`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def secret_of(auth: HookAuth) -> str:
    """The hook's secret; a hook of a signing source without one verifies nothing."""
    if not auth.secret:
        raise Refused("this hook has no secret to check the sender with", reason="no_secret")
    return auth.secret


def header(headers: Mapping[str, str], name: str) -> str:
    """Header `name` (lower-case), refused as missing when absent or empty."""
    value = headers.get(name, "")
    if not value:
        raise Refused(f"missing header {name}", reason="missing")
    return value


def mismatch(name: str) -> Refused:
    return Refused(f"header {name} does not match this hook's secret", reason="mismatch")


def check_header(
    headers: Mapping[str, str], name: str, auth: HookAuth, *, bearer: bool = False
) -> None:
    """Header `name` equals the hook's secret (or, with `bearer`, `Bearer <secret>`)."""
    secret = secret_of(auth)
    value = header(headers, name)
    if bearer and value[:7].lower() == "bearer ":
        value = value[7:].strip()
    if not same(value, secret):
        raise mismatch(name)


def header_of(name: str, auth: HookAuth, *, bearer: bool = False) -> dict[str, str]:
    """What `check_header` accepts, as a sender would send it (none without a secret)."""
    if not auth.secret:
        return {}
    return {name: f"Bearer {auth.secret}" if bearer else auth.secret}


def check_signature(
    headers: Mapping[str, str],
    name: str,
    auth: HookAuth,
    body: bytes,
    *,
    prefix: str = "",
    or_plain: bool = False,
) -> None:
    """Header `name` is `prefix` and the hex HMAC-SHA256 of `body` under the hook's
    secret (or, with `or_plain`, the secret itself)."""
    secret = secret_of(auth)
    given = header(headers, name)
    # Both compared, always: which one matched must not show in the time taken.
    signed = same(given, prefix + hmac_sha256(secret, body))
    plain = same(given, secret) if or_plain else False
    if not (signed or plain):
        raise mismatch(name)


def signature_of(name: str, auth: HookAuth, body: bytes, *, prefix: str = "") -> dict[str, str]:
    """What `check_signature` accepts for `body` (none without a secret)."""
    return {name: prefix + hmac_sha256(auth.secret, body)} if auth.secret else {}
