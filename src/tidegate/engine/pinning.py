"""Pinning: when a run starts, its image tag becomes a digest, once, for every step.

A later push to the same tag cannot change what the run tests, approves and promotes.
The digest comes from the event when the registry sent one, else from the registry: one
the allow-list allows, or the hook the event came in on is bound to (registry/reach.py).
What the run records of a failure is ours (a status, a known error code), never the
answer's words: the host came from the webhook sender, and viewers read the record.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.orm import Session

from tidegate.engine.checkpoints import Checkpoint, Pinned
from tidegate.engine.loaded import LoadedRun
from tidegate.engine.runtime import Runtime
from tidegate.image_event import ImageEvent
from tidegate.registry import ImageRef, RegistryError
from tidegate.store import runs as store_runs
from tidegate.store.credentials import registries_of_event


async def pin(runtime: Runtime, loaded: LoadedRun, bound: list[str]) -> Checkpoint:
    """Resolve and store the run's digest; says why not when it cannot. `loaded` and
    `bound` come from the run's start (`bookkeeping.begin_and_pin`), read with it."""
    event, run = loaded.event, loaded.run
    policy = loaded.workflow.on_unresolved
    if run.digest:
        return Pinned(run.digest, "", policy).checkpoint()
    digest, error = event.digest, ""
    if not digest:
        ref = ImageRef(
            registry=event.registry, repository=event.repository, tag=event.tag or "latest"
        )
        try:
            async with runtime.registry_client(bound) as client:
                digest = (await client.resolve(ref)).digest
        except RegistryError as exc:
            error = f"cannot resolve {ref} to a digest: {exc.brief}"
    await asyncio.to_thread(_record, runtime, run.id, event, digest, error)
    return Pinned(digest, error, policy).checkpoint()


def bound_registries(session: Session, loaded: LoadedRun) -> list[str]:
    """The registries the run's hook is bound to, when its digest is still to resolve."""
    if loaded.run.digest or loaded.event.digest:
        return []
    return registries_of_event(session, loaded.run.event_id)


def _record(runtime: Runtime, run_id: str, event: ImageEvent, digest: str, error: str) -> None:
    with runtime.db.session() as session:
        if digest:
            image = f"{event.registry}/{event.repository}@{digest}"
            store_runs.set_run_digest(session, run_id, digest, image)
        else:
            store_runs.set_digest_error(session, run_id, error)
