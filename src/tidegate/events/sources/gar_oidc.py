"""The OIDC token a Pub/Sub push subscription can attach to each push (`gar` source).

Checked only when the operator sets `gar_oidc_audience` (docs/sources.md): then every
`gar` delivery must carry `Authorization: Bearer <JWT>` signed by Google (RS256 or ES256
only: never `none`, never HMAC), issued by accounts.google.com for that audience, not
expired (beyond LEEWAY_SECONDS), and, with `gar_oidc_email`, for that service account.
Anything else is a 401 (`Refused`), counted in `/metrics`.

The keys come from a JWKS file the operator keeps (`gar_oidc_jwks`), never from the
network: a sealed server reaches no Google host, and no webhook chooses where keys come
from. The file is read at start and again whenever its mtime or size changes (one stat
per delivery); a rewrite that cannot be read keeps the keys read before, with a warning.
No message or log line holds the token. A check costs ~0.2 ms (measured: 2,000 tokens,
RS256, 2048-bit; the RSA verify is ~40 µs of it, joserfc's decoding the rest).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from tidegate.config import Settings
from tidegate.events.grammar import clip
from tidegate.events.sources.auth import Refused

log = logging.getLogger(__name__)

ALGORITHMS = ["RS256", "ES256"]  # what Google signs ID tokens with; nothing keyed by a secret
ISSUERS = ["https://accounts.google.com", "accounts.google.com"]  # Google documents both
LEEWAY_SECONDS = 60  # clock skew between this server and Google
KEYS_MAX_BYTES = 1024 * 1024  # Google's JWKS is ~1 KiB; bounds a wrong path's cost
TOKEN_MAX = 16 * 1024  # Google's tokens are ~1 KiB


class KeysUnreadable(ValueError):
    """The JWKS file cannot be read as a key set (said at start: the server stops)."""


def read_keys(path: Path) -> KeySet:
    """The key set in `path`, a JWKS (`{"keys": [...]}`, as Google publishes it)."""
    try:
        with path.open("rb") as handle:
            text = handle.read(KEYS_MAX_BYTES + 1)
        if len(text) > KEYS_MAX_BYTES:
            raise KeysUnreadable(f"{path} is larger than {KEYS_MAX_BYTES} bytes")
        doc = json.loads(text)
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list) or not doc["keys"]:
            raise KeysUnreadable(f'{path} is not a JWKS: {{"keys": [...]}} with a key')
        return KeySet.import_key_set(doc)  # type: ignore[arg-type]  # checked by joserfc
    except KeysUnreadable:
        raise
    except (OSError, ValueError, TypeError, KeyError, JoseError) as exc:
        why = exc.description or exc.error if isinstance(exc, JoseError) else str(exc)
        raise KeysUnreadable(f"cannot read the keys in {path}: {why}") from exc


class PushTokens:
    """Checks a `gar` delivery's OIDC token against the audience, the keys in `jwks` and
    (if given) the service account `email`."""

    def __init__(
        self,
        audience: str,
        jwks: Path,
        email: str = "",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.audience = audience
        self.email = email
        self.path = jwks
        self.clock = clock
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._keys = read_keys(jwks)  # at start, a bad file stops the server

    def __call__(self, headers: Mapping[str, str]) -> None:
        """Refused unless `headers` (lower-case keys) carry a valid token."""
        token = _bearer(headers)
        try:
            decoded = jwt.decode(token, self.keys(), ALGORITHMS)
            claims: dict[str, object] = {
                "iss": {"essential": True, "values": ISSUERS},
                "aud": {"essential": True, "value": self.audience},
                "exp": {"essential": True},
                "iat": {"essential": True},
            }
            if self.email:
                claims["email"] = {"essential": True, "value": self.email}
                claims["email_verified"] = {"essential": True, "value": True}
            jwt.JWTClaimsRegistry(
                now=int(self.clock()),
                leeway=LEEWAY_SECONDS,
                **claims,  # type: ignore[arg-type]  # ClaimsOption dicts
            ).validate(decoded.claims)
        except InvalidKeyIdError as exc:
            raise Refused(
                "the OIDC token is signed with a key not in TIDEGATE_GAR_OIDC_JWKS "
                "(a forged token, or a keys file older than Google's keys)",
                reason="unknown_key",
            ) from exc
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            why = exc.description or exc.error if isinstance(exc, JoseError) else "malformed"
            raise Refused(f"the OIDC token was refused: {clip(why)}", reason="mismatch") from exc

    def keys(self) -> KeySet:
        """The keys, read again if the file changed since they were read."""
        stamp = self._stat()
        if stamp == self._stamp:
            return self._keys
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp  # a bad rewrite is reported once, not per delivery
                try:
                    self._keys = read_keys(self.path)
                    log.info("gar: read the OIDC keys again from %s", self.path)
                except KeysUnreadable as exc:
                    log.warning("gar: %s; keeping the keys read before", exc)
        return self._keys

    def _stat(self) -> tuple[int, int]:
        try:
            status = self.path.stat()
        except OSError:
            return (-1, -1)
        return (status.st_mtime_ns, status.st_size)


def _bearer(headers: Mapping[str, str]) -> str:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused("missing header Authorization: Bearer (the OIDC token)", reason="missing")
    if len(token) > TOKEN_MAX:
        raise Refused("the OIDC token was refused: too long", reason="mismatch")
    return token.strip()


def push_tokens(settings: Settings) -> PushTokens | None:
    """The check the settings ask for, or None (the URL's token alone, as without it)."""
    if not settings.gar_oidc_audience or settings.gar_oidc_jwks is None:
        return None
    return PushTokens(settings.gar_oidc_audience, settings.gar_oidc_jwks, settings.gar_oidc_email)
