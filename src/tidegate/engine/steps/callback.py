"""`callback:` report the run's result to the registry (Docker Hub's `callback_url`).

The callback reports the run's result; it must not change it. So a callback that was
not delivered (refused by the allow-list, or every attempt failed) ends its step
`undelivered`: not `succeeded`, since the registry never heard, and not `failed`, which
in `finally` would turn a succeeded run into a failed one after it was reported.
"""

from __future__ import annotations

import asyncio

from tidegate.engine.capabilities import Outbound
from tidegate.engine.steps.base import StepContext
from tidegate.engine.steps.outbound import Delivery, OutboundStep, record
from tidegate.errors import StepFailed
from tidegate.pushback.callback import callback_payload, deliver_callback, redact_url
from tidegate.status import Status
from tidegate.store.deliveries import already_delivered
from tidegate.workflows import CallbackSpec

STATUS_TEXT: dict[str, str] = {
    Status.SUCCEEDED: "passed",
    Status.FAILED: "failed",
    Status.TIMED_OUT: "timed out",
    Status.CANCELLED: "was cancelled",
}


class CallbackStep(OutboundStep):
    name = "callback"

    async def execute(self, ctx: StepContext[CallbackSpec, Outbound]) -> None:
        spec = ctx.spec
        url = ctx.render(spec.url) if spec.url else ctx.event.callback_url
        if not url:
            await ctx.info("no callback_url on this event: nothing to report")
            return
        target = redact_url(url)
        db = ctx.caps.db

        def delivered_before() -> bool:
            with db.session() as session:
                return already_delivered(session, ctx.run_id, "callback", target)

        # A crash between delivery and the engine's checkpoint replays this step:
        # the delivery record keeps the registry from hearing about the run twice.
        if await asyncio.to_thread(delivered_before):
            await ctx.info(f"callback to {target} already delivered")
            return
        status = "engine_error" if ctx.engine_error else ctx.run_status
        outcome = STATUS_TEXT.get(ctx.run_status, "errored")
        description = f"{ctx.event.repository}:{ctx.event.tag} {outcome} in Tidegate"
        payload = callback_payload(status, description, ctx.run_url)
        outbound = ctx.caps
        result = await deliver_callback(
            url,
            payload,
            outbound.callback_allow,
            timeout=outbound.timeout,
            attempts=outbound.callback_attempts,
            backoff=outbound.callback_backoff,
        )
        delivery = Delivery(
            target, result.delivered, result.error or "", result.attempts, result.status
        )
        await record(outbound, ctx.run_id, "callback", [delivery])
        if not result.delivered:
            tries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
            raise StepFailed(
                f"callback to {target} not delivered{tries}: {result.error}",
                status=Status.UNDELIVERED,
            )
        await ctx.info(f"callback {payload['state']} delivered to {target}")
