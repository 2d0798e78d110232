"""The log pump: a container's attached output, read by a thread into an asyncio queue."""

from __future__ import annotations

import asyncio
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import suppress
from threading import Event
from typing import Any

from tidegate.executors.base import LogLine, Stream
from tidegate.executors.docker.bridge import in_thread
from tidegate.executors.docker.engine import ours
from tidegate.executors.lines import decode, line, now, split_lines


class Tail:
    """The attached output, pumped by a thread of its own into an asyncio queue.

    Lines are stamped when their chunk arrives. A full queue holds the thread back, and
    so, like a pipe, the container's output (as `docker run` attached would).
    """

    def __init__(self, stream: Any, queue: asyncio.Queue[LogLine | None], max_line: int) -> None:
        self._stream = stream
        self._loop = asyncio.get_running_loop()
        self._queue = queue
        self._max_line = max_line
        self.ended = Event()  # the stream is over: the container is exiting
        self.abandoned = Event()
        self.done = in_thread(self._pump)

    def abandon(self) -> None:
        self.abandoned.set()
        self._close()

    def _pump(self) -> None:
        buffers: dict[Stream, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        try:
            with ours("read the container's output"):
                for out, err in self._stream:
                    stamp = now()
                    kind: Stream = "stdout" if out is not None else "stderr"
                    buffers[kind] += out if out is not None else err
                    for text in split_lines(buffers[kind], self._max_line):
                        if not self._put(LogLine(stamp, kind, decode(text))):
                            return
            for kind, buffer in buffers.items():  # last lines without a newline
                if buffer and not self._put(line(kind, decode(bytes(buffer)))):
                    return
        except Exception:
            if self.abandoned.is_set():
                return  # shut down under us on purpose
            raise
        finally:
            self.ended.set()
            self._close()

    def _close(self) -> None:
        with suppress(Exception):
            self._stream.close()

    def _put(self, item: LogLine) -> bool:
        """Hand `item` to the loop, waiting for room; False once abandoned."""
        if self.abandoned.is_set():
            return False
        try:
            put = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        except RuntimeError:  # the loop is closed
            return False
        while True:
            try:
                put.result(timeout=0.25)
                return True
            except FutureTimeout:
                if self.abandoned.is_set():
                    put.cancel()
                    return False
