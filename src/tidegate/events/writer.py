"""Group commit: the deliveries that arrive while one transaction commits share the next.

A webhook's answer waits for its commit. SQLite takes one writer at a time and every
commit is a sync to disk (`synchronous=FULL`); one commit for the deliveries waiting
together costs what one did alone, and one thread hop carries them all. While a batch
commits, newcomers queue; when it is done, they go together. On PostgreSQL it saves
round trips and connections the same way.

A batch is one transaction. A delivery's expected refusal (NotFound: a revoked hook) is
raised before it writes anything, so it is answered on its own and its batch goes on; any
other failure rolls the batch back and each delivery is tried again in a transaction of
its own, so that one delivery's failure is never another's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from tidegate.errors import NotFound
from tidegate.store.db import Database

T = TypeVar("T")
Context = TypeVar("Context")

MAX_BATCH = 64  # a batch's commit stays ~ms; a bigger one would only delay the first answer

Work = Callable[[Session, Any], T]


class GroupWriter(Generic[Context]):
    """Runs `work(session, context)` for waiting callers, a batch to a transaction.

    `prepare` is called once per batch in the writer's thread (the engine's planner
    reads the workflows directory there) and its value handed to every work of it.
    """

    def __init__(self, db: Database, prepare: Callable[[], Context]) -> None:
        self._db = db
        self._prepare = prepare
        self._waiting: list[tuple[Work[Any], asyncio.Future[Any]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def write(self, work: Work[T]) -> T:
        """`work`'s result once its transaction has committed; its exception if it raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._waiting.append((work, future))
        if self._draining is None:
            self._draining = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                try:
                    outcomes = await asyncio.to_thread(self._commit, [w for w, _ in batch])
                except asyncio.CancelledError:  # the loop is stopping: so are its callers
                    for _, future in batch + self._waiting:
                        future.cancel()
                    self._waiting = []
                    raise
                except Exception as exc:  # the thread could not run: tell every caller
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # the caller went away (its client disconnected)
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self._draining = None

    def _commit(self, works: list[Work[Any]]) -> list[Any]:
        context = self._prepare()
        if len(works) > 1:
            try:
                with self._db.session() as session:
                    return [_attempt(work, session, context) for work in works]
            except Exception:  # noqa: S110 - each alone below says which one failed
                pass
        outcomes: list[Any] = []
        for work in works:
            try:
                with self._db.session() as session:
                    outcomes.append(_attempt(work, session, context))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


def _attempt(work: Work[T], session: Session, context: Any) -> T | NotFound:
    """`work`'s result, or the refusal it raised before writing anything."""
    try:
        return work(session, context)
    except NotFound as exc:
        return exc
