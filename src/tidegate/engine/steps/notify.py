"""`notify:` tell people through Apprise URLs, filtered by `when:`."""

from __future__ import annotations

import asyncio

from tidegate.engine.steps.base import StepContext
from tidegate.pushback.notify import send_notification
from tidegate.store.deliveries import record_delivery

# `when:` words → the run statuses they cover. "approval" is sent when an approval
# opens (see engine.approval), not at the end of the run.
WHEN = {
    "always": {"succeeded", "failed", "timed_out", "cancelled"},
    "success": {"succeeded"},
    "failure": {"failed", "timed_out"},
    "cancelled": {"cancelled"},
}


def wants(when: list[str], status: str) -> bool:
    return any(status in WHEN.get(word, set()) for word in when)


class NotifyStep:
    name = "notify"

    async def execute(self, ctx: StepContext) -> None:
        spec = ctx.spec
        when = list(spec.when)
        # Inside a job the run is still going: the step's place decides, not `when`.
        if ctx.run_status != "running" and not wants(when, ctx.run_status):
            await ctx.info(f"run {ctx.run_status}: notify skipped (when: {', '.join(when)})")
            return
        title = ctx.render(spec.title) if spec.title else default_title(ctx)
        body = ctx.render(spec.body) if spec.body else f"{ctx.event.image}\n{ctx.run_url}"
        await notify(ctx, [ctx.render(url) for url in spec.urls], title, body)


def default_title(ctx: StepContext) -> str:
    return f"Tidegate: {ctx.event.repository}:{ctx.event.tag} {ctx.run_status}"


async def notify(ctx: StepContext, urls: list[str], title: str, body: str) -> None:
    settings = ctx.runtime.settings
    result = await send_notification(
        urls, title, body, ctx.runtime.notify_allow, settings.outbound_timeout
    )

    def record() -> None:
        with ctx.runtime.db.session() as session:
            for outcome, targets in (
                ("sent", result.sent),
                ("refused", result.refused),
                ("failed", result.failed),
            ):
                for target in targets:
                    record_delivery(
                        session,
                        run_id=ctx.run_id,
                        kind="notify",
                        target=target,
                        delivered=outcome == "sent",
                        attempts=1,
                        status_code=None,
                        error="" if outcome == "sent" else outcome,
                    )

    await asyncio.to_thread(record)
    for target in result.sent:
        await ctx.info(f"notified {target}")
    for target in result.refused:
        await ctx.info(f"notification to {target} refused: host not on the allow-list")
    for target in result.failed:
        await ctx.info(f"notification to {target} failed")
