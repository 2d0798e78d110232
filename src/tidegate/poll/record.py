"""A poll's result, written in one transaction: the target's tags, and an event (with its
planned runs, through the intake's own planner and insert) for each push no webhook
reported. Written only while the poller still holds the target's lease.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tidegate.events.delivery import PlannedRun, Planner
from tidegate.events.grammar import event_problem
from tidegate.events.poll_dedup import poll_takes
from tidegate.image_event import ImageEvent
from tidegate.poll.cycle import Seen, changed
from tidegate.store import events as store_events
from tidegate.store import poll_state
from tidegate.store.ids import new_id
from tidegate.store.poll_state import Target
from tidegate.workflows.polling import POLL_SOURCE

# Clocks of processes sharing a database differ a little: a webhook taken in just
# before the previous poll began (by another process's clock) still covers its push.
CLOCK_SLACK = timedelta(seconds=2)


@dataclass
class Recorded:
    """What one poll wrote."""

    lost_lease: bool = False
    first: bool = False  # a first poll: what is there was recorded
    recorded: int = 0  # matching tags now
    planned: list[tuple[ImageEvent, list[PlannedRun]]] = field(default_factory=list)
    covered: list[str] = field(default_factory=list)  # tags a webhook reported already

    @property
    def to_start(self) -> list[PlannedRun]:
        return [run for _, runs in self.planned for run in runs]


@dataclass(frozen=True)
class Outcome:
    """What the poller saw, and how the workflow asked to treat it."""

    target: Target
    seen: dict[str, Seen]
    filter_key: str
    started_at: datetime
    next_due: datetime
    announce_existing: bool  # `poll_existing`: a first poll starts runs too

    @property
    def may_announce(self) -> bool:
        """Whether `record` may plan runs: a tag changed, and it is not a silent first poll."""
        if self.target.polled_at is None and not self.announce_existing:
            return False
        return bool(changed(self.target.tags, self.seen))


def record(
    session: Session, outcome: Outcome, holder: str, planner: Planner, now: datetime
) -> Recorded:
    """Write one poll's result (see the module's docstring)."""
    target = outcome.target
    done = poll_state.finish(
        session,
        target,
        holder,
        tags={tag: seen.digest for tag, seen in outcome.seen.items()},
        filter_key=outcome.filter_key,
        polled_at=outcome.started_at,
        next_due=outcome.next_due,
    )
    result = Recorded(recorded=len(outcome.seen))
    if not done:
        result.lost_lease = True
        return result
    first = target.polled_at is None
    result.first = first
    if first and not outcome.announce_existing:
        return result
    # Tags only a changed `tags:` filter keeps were pushed before anyone asked: recorded.
    refiltered = not first and target.filter_key != outcome.filter_key
    not_before = (target.polled_at or now - timedelta(hours=1)) - CLOCK_SLACK
    for tag in changed(target.tags, outcome.seen):
        if refiltered and tag not in target.tags:
            continue
        seen = outcome.seen[tag]
        event = ImageEvent(
            id=new_id("ev"),
            source=POLL_SOURCE,
            delivery_id=new_id("poll"),
            registry=target.registry,
            repository=target.repository,
            tag=tag,
            digest=seen.digest,
            media_type=seen.media_type,
            received_at=now,
            raw={
                "workflow": target.workflow,
                "previous_digest": target.tags.get(tag, ""),
                "interval_seconds": target.interval,
            },
        )
        if event_problem(event) is not None:  # a registry's answer is input too
            continue
        if not poll_takes(session, event, not_before):
            result.covered.append(tag)
            continue
        runs = planner(event)
        if first:  # `poll_existing` is the asking workflow's: it alone starts runs
            runs = [run for run in runs if run.workflow == target.workflow]
        runs = [replace(run, row={**run.row, "trigger": POLL_SOURCE}) for run in runs]
        row = store_events.event_row(event, None, run_count=len(runs))
        if store_events.insert_new_event(session, row, [run.row for run in runs]) is None:
            result.planned.append((event, runs))
    return result
