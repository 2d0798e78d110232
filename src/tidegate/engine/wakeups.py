"""Waiting for something another part of the process (or another process) will change.

A run waits for its jobs, a job for its approval. Each wait is a checkpointed step that
re-reads the database: when it wakes it looks, so a lost signal costs latency, never
correctness. Within one process, whoever changes the state rings the waiter's key and
it looks at once; otherwise it looks again every `interval` seconds (other processes'
changes, and approval deadlines). Nothing polls faster than that, however many runs
wait, and no thread is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Wakeups:
    def __init__(self, interval: float = 30.0) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def ring(self, key: str) -> None:
        """Wake everyone waiting on `key`; safe from any thread."""
        with self._lock:
            waiters = list(self._waiters.get(key, ()))
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    async def until(
        self, key: str, check: Callable[[], T | None], deadline: float | None = None
    ) -> T | None:
        """Run `check` (in a thread) until it returns a value; None once `deadline` passes.

        `deadline` is a `time.time()` instant.
        """
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        with self._lock:
            self._waiters.setdefault(key, []).append(entry)
        try:
            while True:
                event.clear()
                result = await asyncio.to_thread(check)
                if result is not None:
                    return result
                wait = self.interval
                if deadline is not None:
                    remaining = deadline - time.time()
                    if remaining <= 0:
                        return None
                    wait = min(wait, remaining)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=wait)
        finally:
            with self._lock:
                entries = self._waiters.get(key, [])
                if entry in entries:
                    entries.remove(entry)
                if not entries:
                    self._waiters.pop(key, None)


def run_key(run_id: str) -> str:
    return f"run:{run_id}"


def approval_key(approval_id: str) -> str:
    return f"approval:{approval_id}"
