"""Starting the runs the intake committed, outside the request that committed them.

The intake commits an event with its runs (queued, their ids = DBOS workflow ids) and
answers; this task starts them. Runs committed by this process are handed over at once
(`wake`); other processes' commits (an HTTP-only `serve`, a crash between commit and
start) and starts that failed are found by a poll of the queued runs every
`poll_seconds` (every `POLL_UNDER_PRESSURE` seconds while webhooks are being received).
Starting is idempotent (the workflow id), so a run found twice starts once. Starts go in
batches, yielding to the event loop between them, so a burst of webhooks is answered
while the engine catches up instead of after it. While webhooks are being received, starts are
held back to one every `UNDER_PRESSURE_EVERY` seconds: the engine shares the process
(and the GIL) with the answers, and a registry whose webhook waits too long retries or
gives up. The runs of a burst start as soon as it ends.

At most `max_running` of the runs started here run at once; the rest stay queued, in
the order they came, until one ends (told from the engine's thread: `_ended`). The
workflows themselves run on the engine's own event loop (`launch.on_engine`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable

import structlog
from sqlalchemy import select

from tidegate.engine.control import Started, start_run
from tidegate.engine.runtime import Runtime
from tidegate.security.tracebacks import scrubbed
from tidegate.status import Status
from tidegate.store.models import Run

log = structlog.get_logger(__name__)

BATCH = 16  # starts between two turns of the event loop
# While webhooks are being received, runs start one at a time this far apart: the
# answers come first (a registry gives up on a slow one), the runs soon after.
UNDER_PRESSURE_EVERY = 0.25
PRESSURE_LOOK = 0.01  # how often a held-back start looks again
# While webhooks are being received, the poll of the queued runs (thousands of rows in a
# burst, every one read to find the few another process committed) waits this long.
POLL_UNDER_PRESSURE = 10.0


class Launcher:
    def __init__(
        self,
        poll_seconds: float = 1.0,
        *,
        busy: Callable[[], bool] | None = None,
        max_running: int = 0,
    ) -> None:
        self.poll_seconds = poll_seconds
        self.max_running = max_running  # 0: no bound
        self._running = 0
        # Whether webhooks are being received right now (the intake's count).
        self.busy = busy or (lambda: False)
        self._last_start = 0.0
        self._pending: list[Started] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken = asyncio.Event()
        # Queued runs this process has started (they stay queued until they run, or
        # while they wait in their concurrency queue): the poll leaves them alone.
        self._started: set[str] = set()

    def wake(self, runs: Iterable[tuple[str, str | None]]) -> None:
        """Runs just committed, to start now; safe from any thread. Ignored when the
        engine does not run here: a process that runs it finds them by its poll."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        started = [Started(run_id, key) for run_id, key in runs]
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._add(started)
        else:
            loop.call_soon_threadsafe(self._add, started)

    def _ended(self) -> None:
        """A run this launcher started has ended: room for the next (any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._free)

    def _free(self) -> None:
        self._running -= 1
        self._woken.set()

    def _add(self, runs: list[Started]) -> None:
        self._pending.extend(runs)
        self._woken.set()

    async def run(self, runtime: Runtime) -> None:
        """Forever (cancel to stop): start what is handed over, and what the poll finds."""
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        last_poll = 0.0
        try:
            while True:
                now, next_poll = time.monotonic(), last_poll + self._poll_every()
                if (not self._pending or not self._room()) and now < next_poll:
                    # Until a hand-over or the next poll; while webhooks arrive, looked
                    # at again within `poll_seconds`, in case they stop meanwhile.
                    due = min(next_poll, now + self.poll_seconds) - now
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._woken.wait(), timeout=due)
                self._woken.clear()
                if time.monotonic() >= last_poll + self._poll_every():
                    last_poll = time.monotonic()
                    try:
                        await self._poll(runtime)
                    except Exception as exc:  # the next poll tries again
                        log.error("launcher.poll_failed", where=scrubbed(exc))
                await self._yield_to_intake()
                room = self._room()
                batch, self._pending = self._pending[:room], self._pending[room:]
                if self.busy():
                    batch, self._pending = batch[:1], batch[1:] + self._pending
                if batch:
                    self._last_start = time.monotonic()
                for run in batch:
                    self._running += 1
                    try:
                        await start_run(run.run_id, run.concurrency_key, self._ended)
                    except Exception as exc:  # left queued: the next poll tries again
                        self._running -= 1
                        log.error("run.start_failed", run_id=run.run_id, where=scrubbed(exc))
                    else:
                        self._started.add(run.run_id)
                if batch:
                    await asyncio.sleep(0)  # let the requests waiting meanwhile in
        finally:
            self._loop = None

    def _room(self) -> int:
        """How many runs may start now: a batch, within `max_running`."""
        if not self.max_running:
            return BATCH
        return max(0, min(BATCH, self.max_running - self._running))

    def _poll_every(self) -> float:
        return max(self.poll_seconds, POLL_UNDER_PRESSURE if self.busy() else 0.0)

    async def _yield_to_intake(self) -> None:
        """While webhooks arrive, hold the next start back until they stop or
        `UNDER_PRESSURE_EVERY` has passed since the last: the engine's work shares this
        event loop (and the GIL) with the answers."""
        if not self._pending:
            return
        while self.busy() and time.monotonic() < self._last_start + UNDER_PRESSURE_EVERY:
            await asyncio.sleep(PRESSURE_LOOK)

    async def _poll(self, runtime: Runtime) -> None:
        def queued() -> list[tuple[str, str | None]]:
            with runtime.db.session() as session:
                rows = session.execute(
                    select(Run.id, Run.concurrency_key)
                    .where(Run.status == Status.QUEUED)
                    .order_by(Run.created_at)  # oldest first, as handed over
                )
                return [(row[0], row[1]) for row in rows]

        found = await asyncio.to_thread(queued)
        ids = {run_id for run_id, _ in found}
        self._started &= ids  # the rest have left `queued`: forget them
        waiting = {run.run_id for run in self._pending}
        fresh = [
            Started(run_id, key)
            for run_id, key in found
            if run_id not in self._started and run_id not in waiting
        ]
        self._pending.extend(fresh)
