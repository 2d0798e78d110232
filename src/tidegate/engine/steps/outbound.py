"""What the kinds that reach out (`callback`, `notify`) share: the capability they are
granted, and how a delivery is recorded on the run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from tidegate.engine.capabilities import Capabilities, Outbound
from tidegate.store.deliveries import record_delivery


class OutboundStep:
    """A kind that sends messages to the world: it is granted `Outbound` alone."""

    def grant(self, caps: Capabilities) -> Outbound:
        return caps.outbound


@dataclass(frozen=True)
class Delivery:
    """One message's fate, as the run's page and `/metrics` show it (the fields are
    `record_delivery`'s)."""

    target: str  # redacted: no credential of the URL
    delivered: bool
    error: str = ""
    attempts: int = 1
    status_code: int | None = None


async def record(
    outbound: Outbound, run_id: str, kind: str, deliveries: Iterable[Delivery]
) -> None:
    """Store `deliveries` in one transaction (in a thread: the session's calls block)."""

    def write() -> None:
        with outbound.db.session() as session:
            for delivery in deliveries:
                record_delivery(session, run_id=run_id, kind=kind, **asdict(delivery))

    await asyncio.to_thread(write)
