"""Slowing down password guessing: failures per key (a user name, a client address).

The first `free` failures cost nothing; from then on each failure locks the key for
`base` seconds, doubling with every further failure up to `cap`. While locked, an
attempt is refused before its password is even checked. A key is forgotten once it has
been quiet for `window` seconds after its last lock ended, or at once by `forget` (a
successful sign-in forgets its user name).

In memory, per process: each server process behind a load balancer counts on its own,
and a restart forgets. Bounded: past `max_keys`, the keys quiet the longest go first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0
    locked_before: float = 0.0  # the lock before the last failure, for `refund`


class Throttle:
    def __init__(
        self,
        *,
        free: int = 5,
        window: float = 15 * 60,
        base: float = 10.0,
        cap: float = 15 * 60,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.free = free
        self.window = window
        self.base = base
        self.cap = cap
        self.clock = clock
        self.max_keys = max_keys
        # Insertion order is the order of last activity: the front is the quietest.
        self._keys: dict[str, _Failures] = {}

    def wait(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        now = self.clock()
        entry = self._live(key, now)
        return 0.0 if entry is None else max(0.0, entry.locked_until - now)

    def failed(self, key: str) -> None:
        """Count a failure of `key`; from the `free`-th one on, lock it for a while."""
        now = self.clock()
        entry = self._live(key, now) or _Failures()
        entry.count += 1
        entry.last = now
        entry.locked_before = entry.locked_until
        if entry.count >= self.free:
            lock = min(self.cap, self.base * 2 ** (entry.count - self.free))
            entry.locked_until = max(entry.locked_until, now + lock)
        self._keys.pop(key, None)
        self._keys[key] = entry
        if len(self._keys) > self.max_keys:
            self._prune(now)

    def refund(self, key: str) -> None:
        """Take back one failure counted ahead of a check that then succeeded."""
        entry = self._keys.get(key)
        if entry is None:
            return
        entry.count = max(0, entry.count - 1)
        entry.locked_until = entry.locked_before

    def forget(self, key: str) -> None:
        self._keys.pop(key, None)

    def _live(self, key: str, now: float) -> _Failures | None:
        entry = self._keys.get(key)
        if entry is not None and self._expired(entry, now):
            del self._keys[key]
            return None
        return entry

    def _expired(self, entry: _Failures, now: float) -> bool:
        return now >= max(entry.last, entry.locked_until) + self.window

    def _prune(self, now: float) -> None:
        for key in [k for k, e in self._keys.items() if self._expired(e, now)]:
            del self._keys[key]
        while len(self._keys) > self.max_keys:
            del self._keys[next(iter(self._keys))]


class SignInThrottle:
    """Failed sign-ins, counted per user name and per client address.

    An address gets more free failures than a name: people behind one NAT or proxy
    share it, and a mistyped password should not lock out their colleagues.

    An attempt is counted as a failure before its password is checked, so that many
    sent at once cannot all slip through before the first failure is known; a success
    takes it back.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.by_name = Throttle(free=5, clock=clock)
        self.by_address = Throttle(free=20, clock=clock)

    def attempt(self, name: str, address: str) -> float:
        """0 and the attempt is counted, or the seconds to wait (nothing counted)."""
        wait = max(self.by_name.wait(name), self.by_address.wait(address))
        if wait > 0:
            return wait
        self.by_name.failed(name)
        self.by_address.failed(address)
        return 0.0

    def succeeded(self, name: str, address: str) -> None:
        """The name's failures are forgotten; the address only gets this attempt back
        (one good password must not clear a spray of guesses at other names)."""
        self.by_name.forget(name)
        self.by_address.refund(address)
