"""Pinning: when a run starts, its image tag becomes a digest, once, for every step.

A later push to the same tag cannot change what the run tests, approves and promotes.
The digest comes from the event when the registry sent one, else from the registry.
"""

from __future__ import annotations

from typing import Any

from tidegate.engine.loaded import load_run_async
from tidegate.engine.runtime import get_runtime
from tidegate.errors import OutboundRefused
from tidegate.registry import ImageRef, RegistryError
from tidegate.store import runs as store_runs


async def pin_image(run_id: str) -> dict[str, Any]:
    """Resolve and store the run's digest; says why not when it cannot."""
    runtime = get_runtime()
    loaded = await load_run_async(runtime, run_id)
    event, run = loaded.event, loaded.run
    policy = loaded.workflow.on_unresolved
    if run.digest:
        return {"digest": run.digest, "error": "", "policy": policy}
    digest, error = event.digest, ""
    if not digest:
        ref = ImageRef(
            registry=event.registry, repository=event.repository, tag=event.tag or "latest"
        )
        try:
            runtime.registry_allow.check(f"https://{ref.registry}/")
            async with runtime.registry_client() as client:
                digest = (await client.resolve(ref)).digest
        except (RegistryError, OutboundRefused) as exc:
            error = f"cannot resolve {ref} to a digest: {exc.message}"
    with runtime.db.session() as session:
        if digest:
            image = f"{event.registry}/{event.repository}@{digest}"
            store_runs.set_run_digest(session, run_id, digest, image)
        else:
            store_runs.set_digest_error(session, run_id, error)
    return {"digest": digest, "error": error, "policy": policy}
