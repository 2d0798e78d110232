"""`notify:` tell people through Apprise URLs, filtered by `when:`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tidegate.engine.capabilities import Outbound
from tidegate.engine.steps.base import StepContext
from tidegate.engine.steps.outbound import Delivery, OutboundStep, record
from tidegate.pushback.notify import send_notification
from tidegate.status import FAILING, RUN_FINAL, Status
from tidegate.workflows import NotifySpec

# `when:` words → the run statuses they cover. "approval" is sent when an approval
# opens (see engine.approval), not at the end of the run.
WHEN: dict[str, frozenset[Status]] = {
    "always": RUN_FINAL,
    "success": frozenset({Status.SUCCEEDED}),
    "failure": FAILING,
    "cancelled": frozenset({Status.CANCELLED}),
}


def wants(when: Sequence[str], status: str) -> bool:
    return any(status in WHEN.get(word, ()) for word in when)


class NotifyStep(OutboundStep):
    name = "notify"

    async def execute(self, ctx: StepContext[NotifySpec, Outbound]) -> None:
        spec = ctx.spec
        when = list(spec.when)
        # Inside a job the run is still going: the step's place decides, not `when`.
        if ctx.run_status != "running" and not wants(when, ctx.run_status):
            await ctx.info(f"run {ctx.run_status}: notify skipped (when: {', '.join(when)})")
            return
        title = ctx.render(spec.title) if spec.title else default_title(ctx)
        body = ctx.render(spec.body) if spec.body else f"{ctx.event.image}\n{ctx.run_url}"
        await notify(ctx, [ctx.render(url) for url in spec.urls], title, body)


def default_title(ctx: StepContext[Any, Any]) -> str:
    return f"Tidegate: {ctx.event.repository}:{ctx.event.tag} {ctx.run_status}"


async def notify(ctx: StepContext[Any, Outbound], urls: list[str], title: str, body: str) -> None:
    outbound = ctx.caps
    result = await send_notification(urls, title, body, outbound.notify_allow, outbound.timeout)
    sent = [Delivery(target, delivered=True) for target in result.sent]
    refused = [Delivery(target, False, "refused") for target in result.refused]
    failed = [Delivery(target, False, "failed") for target in result.failed]
    await record(outbound, ctx.run_id, "notify", [*sent, *refused, *failed])
    for target in result.sent:
        await ctx.info(f"notified {target}")
    for target in result.refused:
        await ctx.info(f"notification to {target} refused: host not on the allow-list")
    for target in result.failed:
        await ctx.info(f"notification to {target} failed")
