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


class LogSink:
    """One step's log. `write` is cheap; a batch reaches the database every 250 ms."""

    def __init__(
        self, db: Database, run_id: str, job_id: str, index: int, secrets: list[str]
    ) -> None:
        self._db = db
        self._key = (run_id, job_id, index)
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True)
        self._buffer: list[tuple[datetime, str, str]] = []
        self._last_flush = asyncio.get_running_loop().time()

    async def write(self, stream: str, text: str) -> None:
        self._buffer.append((datetime.now(UTC), stream, mask(text, self._secrets)))
        now = asyncio.get_running_loop().time()
        if len(self._buffer) >= FLUSH_LINES or now - self._last_flush >= FLUSH_SECONDS:
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        self._last_flush = asyncio.get_running_loop().time()
        run_id, job_id, index = self._key

        def store() -> None:
            with self._db.session() as session:
                append_lines(session, run_id, job_id, index, batch)

        await asyncio.to_thread(store)
