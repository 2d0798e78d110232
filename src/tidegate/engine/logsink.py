"""Buffers a step's output lines and writes them in batches, secrets masked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tidegate.image_event import ImageEvent
from tidegate.store.db import Database
from tidegate.store.logs import append_lines

MASK = "***"
FLUSH_LINES = 200
FLUSH_SECONDS = 0.25


def event_secrets(event: ImageEvent) -> list[str]:
    """What an event carries that is a secret: Docker Hub's callback URL, which lets
    whoever holds it report a result for the image. Viewers never see it in the API;
    a step that prints it must not show it to them either."""
    return [event.callback_url] if event.callback_url else []


def mask(text: str, secrets: list[str]) -> str:
    for value in secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


Line = tuple[datetime, str, str]  # (ts, stream, text), masked


class LogSink:
    """One step's log. `write` is cheap; a batch reaches the database every 250 ms, and
    the last one with the step's final record (`rest`, in one transaction)."""

    def __init__(
        self, db: Database, run_id: str, job_id: str, index: int, secrets: list[str]
    ) -> None:
        self._db = db
        self._key = (run_id, job_id, index)
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True)
        self._buffer: list[Line] = []
        self._last_flush = asyncio.get_running_loop().time()
        # The last batch handed over; each waits for the one before, so lines keep their
        # order even when a flush's waiter is cancelled (its write goes on regardless).
        self._writing: asyncio.Future[None] | None = None

    async def write(self, stream: str, text: str) -> None:
        self._buffer.append((datetime.now(UTC), stream, mask(text, self._secrets)))
        now = asyncio.get_running_loop().time()
        if len(self._buffer) >= FLUSH_LINES or now - self._last_flush >= FLUSH_SECONDS:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self._last_flush = asyncio.get_running_loop().time()
            self._writing = asyncio.ensure_future(self._store(batch, after=self._writing))
        await self._written()

    async def rest(self) -> list[Line]:
        """The lines not yet written, taken out: the caller stores them (after every
        earlier batch is in)."""
        await self._written()
        batch, self._buffer = self._buffer, []
        return batch

    async def _store(self, batch: list[Line], after: asyncio.Future[None] | None) -> None:
        if after is not None:  # one batch at a time, in order
            await asyncio.wait({after})
        run_id, job_id, index = self._key

        def store() -> None:
            with self._db.session() as session:
                append_lines(session, run_id, job_id, index, batch)

        await asyncio.to_thread(store)

    async def _written(self) -> None:
        """Until the last batch handed over is in (and so every one before it)."""
        writing = self._writing
        if writing is None:
            return
        await asyncio.wait({writing})  # a cancel here leaves the write going on
        if self._writing is writing:
            self._writing = None
        writing.result()  # its failure
