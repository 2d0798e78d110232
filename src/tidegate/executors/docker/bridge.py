"""The thread bridge: a blocking SDK call as an asyncio future.

Each call runs in a daemon thread of its own, not in asyncio's default pool: a long
call (a pull, the output stream) cannot starve that small pool, and a call the engine
leaves hanging holds up neither the event loop nor the process's exit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

T = TypeVar("T")


def in_thread(fn: Callable[[], T]) -> asyncio.Future[T]:
    """Run `fn` in a daemon thread of its own; its result as a future of the running loop.

    Cancelling the future abandons the call (it runs on, its result is dropped).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    future.add_done_callback(_retrieve)

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    def body() -> None:
        try:
            result, error = fn(), None
        except Exception as exc:
            result, error = None, exc
        with suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=body, name="tidegate-docker", daemon=True).start()
    return future


async def call(fn: Callable[[], T]) -> T:
    return await in_thread(fn)


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Mark an abandoned call's exception as seen (no "exception was never retrieved").
    if not future.cancelled():
        future.exception()
