"""`promote:` put the run's pinned digest under other references, in any registry.

Always the digest the run pinned when it started: what was tested and approved is
what lands. A reference without a registry host means the event's registry.
`if_exists` protects tags like `production` from being moved by accident. With
`signatures: true`, what refers to the image (signatures, attestations, SBOMs) follows it
to each destination repository once the image is there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from tidegate.engine.capabilities import Capabilities, Registries
from tidegate.engine.steps.base import StepContext, stopped
from tidegate.errors import StepFailed
from tidegate.registry import ImageRef, RegistryError
from tidegate.store.promotions import approvers_of, record_promotion
from tidegate.workflows import PromoteSpec

T = TypeVar("T")


def destination(text: str, default_registry: str) -> ImageRef:
    """`acme/web:prod` → on the event's registry; `host[:port]/repo:tag` → as written."""
    first = text.split("/", 1)[0]
    has_host = "/" in text and ("." in first or ":" in first or first == "localhost")
    if "@" in text or ":" not in text.rsplit("/", 1)[-1]:
        # ImageRef would read a missing tag as "latest": a promotion says where it goes.
        raise StepFailed(f"promote: {text!r} must name a tag (the digest is the run's)")
    return ImageRef.parse(text if has_host else f"{default_registry}/{text}")


Ctx = StepContext[PromoteSpec, Registries]


class PromoteStep:
    name = "promote"

    def grant(self, caps: Capabilities) -> Registries:
        return caps.registries

    async def execute(self, ctx: Ctx) -> None:
        spec = ctx.spec
        event = ctx.event
        if not event.digest:
            raise StepFailed(
                "promote needs the run's pinned digest, and this run has none "
                "(see digest_error; on_unresolved: tag runs on the tag)"
            )
        source = ImageRef(registry=event.registry, repository=event.repository, digest=event.digest)
        targets = [spec.to] if isinstance(spec.to, str) else list(spec.to)
        registries = ctx.caps
        db = registries.db

        def approvers() -> list[str]:
            with db.session() as session:
                return approvers_of(session, ctx.run_id)

        approved_by = await asyncio.to_thread(approvers)
        bound = await asyncio.to_thread(registries.bound, event.id)
        reach = registries.reach(bound)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ctx.timeout
        for text in targets:
            rendered = ctx.render(text)
            try:
                target = destination(rendered, event.registry)
                reach.check_registry(target.registry)
                reach.check_registry(source.registry)
                copying = self._one(ctx, source, target, spec.if_exists, bound)
                outcome = await self._bounded(ctx, copying, deadline - loop.time())
            except RegistryError as exc:
                raise StepFailed(f"promote to {rendered}: {exc.message}") from exc

            def record(target: ImageRef = target, outcome: str = outcome) -> None:
                with db.session() as session:
                    record_promotion(
                        session,
                        run_id=ctx.run_id,
                        source=str(source),
                        destination=str(target),
                        digest=source.digest,
                        outcome=outcome,
                        approved_by=approved_by,
                    )

            await asyncio.to_thread(record)
            if spec.signatures and outcome != "skipped":
                try:
                    work = self._carry(ctx, source, target, bound)
                    await self._bounded(ctx, work, deadline - loop.time())
                except RegistryError as exc:
                    raise StepFailed(f"promote to {rendered}: signatures: {exc.message}") from exc

    async def _bounded(self, ctx: Ctx, work: Awaitable[T], seconds: float) -> T:
        """`work`, stopped by the step's timeout or a cancel like any other step."""
        task = asyncio.ensure_future(work)
        cancelled = asyncio.ensure_future(ctx.cancel.wait())
        try:
            done, _ = await asyncio.wait(
                {task, cancelled}, timeout=max(seconds, 0), return_when="FIRST_COMPLETED"
            )
        finally:
            cancelled.cancel()
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise stopped(ctx, "cancel" if ctx.cancel.is_set() else "timeout")

    async def _one(
        self,
        ctx: Ctx,
        source: ImageRef,
        target: ImageRef,
        if_exists: str,
        bound: list[str],
    ) -> str:
        # One look at the tag, inside the copy: with `overwrite` it goes alongside the
        # copy's first requests; `skip` and `fail` have the copy wait for it.
        async with ctx.caps.client(bound) as client:
            result = await client.copy(source, target, keep_existing=if_exists != "overwrite")
        current = result.previous
        if current == source.digest:
            # Already there: a repeat after a crash changes nothing.
            await ctx.info(f"{target} already has {source.digest}")
            return "unchanged"
        if current and if_exists == "skip":
            await ctx.info(f"{target} exists ({current}); if_exists: skip")
            return "skipped"
        if current and if_exists == "fail":
            raise StepFailed(
                f"{target} already exists ({current}) and if_exists is fail: not moving it"
            )
        await ctx.info(
            f"promoted {source} → {target} ({result.mounted} blobs mounted, "
            f"{result.uploaded} copied, {result.skipped} already there, {result.bytes} bytes)"
        )
        return "promoted"

    async def _carry(self, ctx: Ctx, source: ImageRef, target: ImageRef, bound: list[str]) -> None:
        """The image's referrers and cosign tags, to the destination's repository."""
        async with ctx.caps.client(bound) as client:
            carried = await client.copy_referrers(source, target)
        await ctx.info(f"{target.registry}/{target.repository}: {carried.summary()}")
