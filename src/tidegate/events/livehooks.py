"""The live hooks, in memory: a webhook's token is checked without a database read.

Keyed by the token's SHA-256 (what the database stores), so nothing here holds a token.
A token not held is read from the database (a thread hop) and kept if it is a live
hook; unknown tokens are not kept, so a flood of them cannot grow this. A revocation
made in this process empties it (store/credentials.py counts them); one made by another
process is seen by the delivery's own transaction (`live_hook_registries`), which
drops the hook from here, so that every later delivery is refused before its body.

Measured (bench/intake.py): the lookup through a session cost ~0.3 ms and a thread hop
per webhook; from here, a dict read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tidegate.events.sources.auth import NO_AUTH, HookAuth
from tidegate.security.tokens import hash_token
from tidegate.store import credentials
from tidegate.store.db import Database

MAX_HELD = 100_000  # far above any real count of hooks; bounds memory whatever happens


@dataclass(frozen=True)
class LiveHook:
    id: str
    source: str
    # What the hook checks its sender with (sources/auth.py): NO_AUTH for a source that
    # signs nothing.
    auth: HookAuth = NO_AUTH


class LiveHooks:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._held: dict[str, LiveHook] = {}  # by the token's hash
        self._seen = credentials.revocations()

    def cached(self, source: str, token: str) -> LiveHook | None:
        """The hook if held and of `source`; None: not held (ask `load`) or not of this
        source (then `load` says no as well)."""
        self._forget_if_revoked()
        held = self._held.get(hash_token(token))
        return held if held is not None and held.source == source else None

    def load(self, source: str, token: str) -> LiveHook | None:
        """The live hook of `source` for this token, from the database (blocking)."""
        token_hash = hash_token(token)
        seen = credentials.revocations()
        with self._db.session() as session:
            found = credentials.hook_by_hash(session, token_hash)
        if found is None:
            return None
        hook_id, hook_source, secret, header = found
        hook = LiveHook(hook_id, hook_source, HookAuth(secret, header))
        with self._lock:
            if seen == credentials.revocations() and len(self._held) < MAX_HELD:
                self._held[token_hash] = hook
        return hook if hook.source == source else None

    def forget(self, hook_id: str) -> None:
        """Drop a hook found revoked (by another process)."""
        with self._lock:
            self._held = {key: held for key, held in self._held.items() if held.id != hook_id}

    def _forget_if_revoked(self) -> None:
        count = credentials.revocations()
        if count != self._seen:
            with self._lock:
                self._held = {}
                self._seen = count
