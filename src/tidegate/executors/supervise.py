"""Supervising work to its end, the loop every executor shares: wait for the work, a
deadline or a cancel, whichever comes first; to stop it, ask (SIGTERM, an engine's
stop), wait out the kill grace, then kill.

What "the work", "ask" and "kill" are is the executor's: a process group and its
signals, a container and the engine's stop and kill calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tidegate.executors.base import StopReason


def deadline_in(timeout: float | None) -> float | None:
    """The event loop's time `timeout` seconds from now (None: no deadline)."""
    return None if timeout is None else asyncio.get_running_loop().time() + timeout


async def watch(
    deadline: float | None,
    work: asyncio.Future[Any],
    cancelled: asyncio.Future[Any],
    consumer: asyncio.Task[None] | None = None,
) -> StopReason:
    """Wait for `work` (an exit, a pull); "timeout" or "cancel" when one comes first.

    `work` is left running then. A failing `consumer` (the task delivering output
    lines) raises here; one that ends first (both streams closed before the exit) is
    no reason to stop waiting.
    """
    loop = asyncio.get_running_loop()
    watched: set[asyncio.Future[Any]] = {work, cancelled} | ({consumer} if consumer else set())
    while True:
        remaining = None if deadline is None else max(0.0, deadline - loop.time())
        done, _ = await asyncio.wait(watched, timeout=remaining, return_when="FIRST_COMPLETED")
        if work in done:  # an exit wins over a cancel that arrived with it
            return None
        if cancelled in done:
            return "cancel"
        if consumer is not None and consumer in done:
            consumer.result()  # re-raises what on_line raised
            watched.discard(consumer)
        elif not done:
            return "timeout"


async def stop(
    exited: asyncio.Future[Any],
    *,
    terminate: Callable[[], Awaitable[None]],
    kill: Callable[[], Awaitable[None]],
    grace: float,
) -> None:
    """Ask the work to end, give it `grace` seconds to exit, then kill it."""
    await terminate()
    await asyncio.wait({exited}, timeout=grace)
    if not exited.done():
        await kill()


async def supervise(
    exited: asyncio.Future[Any],
    *,
    deadline: float | None,
    cancelled: asyncio.Future[Any],
    consumer: asyncio.Task[None] | None,
    terminate: Callable[[], Awaitable[None]],
    kill: Callable[[], Awaitable[None]],
    grace: float,
) -> StopReason:
    """`watch`, then `stop` the work if the deadline or the cancel came first.

    Returns why we stopped it (None: it ended by itself); `exited` is then done or
    about to be (killed).
    """
    reason = await watch(deadline, exited, cancelled, consumer)
    if reason is not None:
        await stop(exited, terminate=terminate, kill=kill, grace=grace)
    return reason
