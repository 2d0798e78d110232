"""Output as lines: cut a byte stream into lines, stamp them, hand them to a sink in order.

Both executors read output in chunks (pipes, the engine's attach stream), queue the
lines, and let one consumer task deliver them: the queue is bounded, so a slow sink
slows the producer down as a full pipe would.
"""

from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime

from tidegate.executors.base import LineSink, LogLine, Stream

MAX_LINE = 64 * 1024  # bytes; a longer line is split, so a newline-less flood cannot hang us


def split_lines(buf: bytearray, max_line: int) -> list[bytes]:
    """Take the complete lines out of `buf` (newline and a CR before it dropped).

    A run of more than `max_line` bytes without a newline comes out as a line of its
    own, cut before a UTF-8 sequence rather than inside it. The rest stays in `buf`.
    """
    lines: list[bytes] = []
    start = 0
    while True:
        nl = buf.find(b"\n", start, start + max_line + 1)
        if nl != -1:
            end = nl - 1 if nl > start and buf[nl - 1] == 0x0D else nl
            lines.append(bytes(buf[start:end]))
            start = nl + 1
        elif len(buf) - start > max_line:
            cut = start + max_line
            for _ in range(3):  # step back over continuation bytes (10xxxxxx)
                if cut - 1 > start and buf[cut] & 0xC0 == 0x80:
                    cut -= 1
            lines.append(bytes(buf[start:cut]))
            start = cut
        else:
            break
    del buf[:start]
    return lines


def decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def now() -> datetime:
    return datetime.now(UTC)


def line(stream: Stream, text: str) -> LogLine:
    """A line stamped now: our own notes among a step's output."""
    return LogLine(now(), stream, text)


async def emit_line(on_line: LineSink, line: LogLine) -> None:
    """Hand `line` to a sink that may be sync or async."""
    result = on_line(line)
    if inspect.isawaitable(result):
        await result


async def consume_lines(queue: asyncio.Queue[LogLine | None], on_line: LineSink) -> None:
    """Hand the queue's lines to `on_line` in order, until a None."""
    while (item := await queue.get()) is not None:
        await emit_line(on_line, item)


async def end_consumer(queue: asyncio.Queue[LogLine | None], consumer: asyncio.Task[None]) -> None:
    """Let the consumer deliver what the queue holds, then end it; re-raises its failure."""
    if not consumer.done():
        # The consumer may fail while we wait for room in the queue: watch both.
        put = asyncio.ensure_future(queue.put(None))
        await asyncio.wait({put, consumer}, return_when="FIRST_COMPLETED")
        put.cancel()
    await consumer
