"""The polling safety net: workflows with `on.image.poll` list their repositories' tags
every so often, and a push no webhook reported becomes an event with source `poll`.

Every `tick` the poller brings the targets (store/poll_state.py) up to date with the
workflows, claims the ones that are due, and polls them: one task per registry, each
with its own bound on requests in flight, so a registry that is down or slow delays
only its own repositories. A failed poll is tried again with exponential backoff (at
least the registry's Retry-After); the registry client has already retried 429 and
5xx answers within the poll. Results are written by record.py.

Leases on rows rather than DBOS scheduled workflows: intervals come from workflow files
that change while the server runs (down to 1 s), and per-registry concurrency is ours
to bound; a lease is one conditional UPDATE on either database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from tidegate import logs
from tidegate.events.announce import note_planned
from tidegate.events.intake import PlannedRun, RunPlanner
from tidegate.image_event import ImageEvent
from tidegate.poll.cycle import filter_key, observe
from tidegate.poll.record import Outcome, Recorded, record
from tidegate.registry import RegistryClient, RegistryError, RegistryUnreachable
from tidegate.store import poll_state, push_sightings
from tidegate.store.db import Database
from tidegate.store.ids import new_id
from tidegate.store.models import utcnow
from tidegate.store.poll_state import Target, Wanted
from tidegate.workflows import LoadedWorkflow, WorkflowDirectory, tag_matches
from tidegate.workflows.polling import DEFAULT_POLL_REGISTRY

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5  # how often due targets are looked for: one indexed query
LEASE = timedelta(minutes=2)  # a poll that takes longer may be taken over (and redone)
PER_REGISTRY = 8  # requests in flight to one registry (Distribution's default pool is 8)
MAX_BACKOFF = timedelta(minutes=10)
SIGHTINGS_KEPT = timedelta(days=1)  # longer than any window that asks about them
PRUNE_EVERY = timedelta(hours=1)


def _no_runs(event: ImageEvent) -> list[PlannedRun]:
    raise AssertionError("a poll that announces nothing plans nothing")


def wanted_targets(workflows: Mapping[str, LoadedWorkflow]) -> list[Wanted]:
    """Each polling workflow's repositories on each registry it names exactly."""
    wanted = []
    for name, loaded in sorted(workflows.items()):
        image = loaded.workflow.on.image
        if image.poll is None:
            continue
        for registry in image.registries or [DEFAULT_POLL_REGISTRY]:
            for repository in image.repositories:
                wanted.append(Wanted(name, registry.lower(), repository, image.poll))
    return wanted


def backoff(target: Target, error: RegistryError) -> float:
    """Seconds before the next try: the interval doubled per failure in a row, capped
    (at 10 minutes, or the interval when longer), and never before Retry-After."""
    failures = target.failures + 1
    cap = max(target.interval, MAX_BACKOFF.total_seconds())
    wait = min(cap, target.interval * 2.0 ** min(failures, 20))
    if isinstance(error, RegistryUnreachable) and error.retry_after:
        wait = max(wait, error.retry_after)
    return wait


class Poller:
    """Polls the targets of `workflows`' polling workflows; `run` until cancelled."""

    def __init__(
        self,
        db: Database,
        workflows: WorkflowDirectory,
        runs: RunPlanner,
        client: Callable[[], RegistryClient],
        *,
        tick: float = TICK_SECONDS,
        per_registry: int = PER_REGISTRY,
    ) -> None:
        self._db = db
        self._workflows = workflows
        self._runs = runs
        self._client_factory = client
        self._tick = tick
        self._per_registry = per_registry
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{new_id('poller')}"
        self._synced: list[Wanted] | None = None
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._pruned_at: datetime | None = None

    async def run(self) -> None:
        """Forever: look for due targets every tick. Cancelled: leases are freed."""
        async with self._client_factory() as client:
            try:
                while True:
                    try:
                        await self.tick(client)
                    except Exception:  # the next tick tries again
                        log.exception("polling: could not look for due repositories")
                    await asyncio.sleep(self._tick)
            finally:
                for task in self._busy.values():
                    task.cancel()
                await asyncio.gather(*self._busy.values(), return_exceptions=True)
                await asyncio.shield(asyncio.to_thread(self._release))

    async def tick(self, client: RegistryClient) -> None:
        """Sync the targets with the workflows, claim the due ones, start their polls."""
        loaded = await asyncio.to_thread(self._workflows.load)
        wanted = wanted_targets(loaded.workflows)
        if wanted != self._synced:
            await asyncio.to_thread(self._sync, wanted)
            self._synced = wanted
        if not wanted:
            return
        self._busy = {r: task for r, task in self._busy.items() if not task.done()}
        due = await asyncio.to_thread(self._claim, set(self._busy))
        by_registry: dict[str, list[Target]] = {}
        for target in due:
            by_registry.setdefault(target.registry, []).append(target)
        for registry, targets in by_registry.items():
            task = asyncio.create_task(
                self._poll_registry(client, registry, targets, loaded.workflows)
            )
            self._busy[registry] = task
        now = utcnow()
        if self._pruned_at is None or now - self._pruned_at > PRUNE_EVERY:
            self._pruned_at = now
            await asyncio.to_thread(self._prune, now)

    async def _poll_registry(
        self,
        client: RegistryClient,
        registry: str,
        targets: list[Target],
        workflows: Mapping[str, LoadedWorkflow],
    ) -> None:
        gate = self._gates.setdefault(registry, asyncio.Semaphore(self._per_registry))
        await asyncio.gather(*(self._poll(client, t, gate, workflows) for t in targets))

    async def _poll(
        self,
        client: RegistryClient,
        target: Target,
        gate: asyncio.Semaphore,
        workflows: Mapping[str, LoadedWorkflow],
    ) -> None:
        found = workflows.get(target.workflow)
        image = found.workflow.on.image if found else None
        if image is None or image.poll is None:  # gone since the claim: the sync drops it
            await asyncio.to_thread(self._release_one, target)
            return
        tags = list(image.tags)
        started = utcnow()
        try:
            seen = await observe(
                client,
                target.registry,
                target.repository,
                lambda tag: any(tag_matches(p, tag) for p in tags),
                gate,
            )
        except RegistryError as exc:
            await asyncio.to_thread(self._failed, target, exc)
            return
        outcome = Outcome(
            target=target,
            seen=seen,
            filter_key=filter_key(tags),
            started_at=started,
            next_due=started + timedelta(seconds=image.poll),
            announce_existing=image.poll_existing,
        )
        result = await asyncio.to_thread(self._record, outcome)
        if result.to_start:
            self._runs.queued(result.to_start)
        _note(target, result, image.poll_existing)

    # Database work, in threads

    def _sync(self, wanted: list[Wanted]) -> None:
        with self._db.session() as session:
            poll_state.sync_targets(session, wanted, utcnow())

    def _claim(self, busy: set[str]) -> list[Target]:
        with self._db.session() as session:
            return poll_state.claim_due(session, self.holder, utcnow(), LEASE, busy=busy)

    def _record(self, outcome: Outcome) -> Recorded:
        # The planner reads the workflows directory: before the write, and only when a
        # tag changed (most polls find nothing new).
        planner = self._runs.planner() if outcome.may_announce else _no_runs
        with self._db.session() as session:
            return record(session, outcome, self.holder, planner, utcnow())

    def _failed(self, target: Target, error: RegistryError) -> None:
        wait = backoff(target, error)
        with self._db.session() as session:
            poll_state.fail(
                session, target, self.holder, str(error), utcnow() + timedelta(seconds=wait)
            )
        if target.failures == 0 or target.last_error != str(error):  # once per new error
            where = f"{target.registry}/{target.repository}"
            logs.note(
                "poll.failed",
                f"poll {where}: {logs.clean(str(error))}; trying again in {wait:.0f}s",
                workflow=target.workflow,
                registry=target.registry,
                repository=target.repository,
            )

    def _release_one(self, target: Target) -> None:
        with self._db.session() as session:
            poll_state.release(session, target, self.holder)

    def _release(self) -> None:
        with self._db.session() as session:
            poll_state.release_all(session, self.holder)

    def _prune(self, now: datetime) -> None:
        with self._db.session() as session:
            push_sightings.forget_before(session, now - SIGHTINGS_KEPT)


def _note(target: Target, result: Recorded, announce: bool) -> None:
    where = f"{target.registry}/{target.repository}".removeprefix("docker.io/")
    if result.lost_lease:
        return
    if target.failures:
        logs.note("poll.recovered", f"poll {where}: answering again", workflow=target.workflow)
    if result.first and not announce:
        logs.note(
            "poll.first",
            f"poll {where}: first poll for {target.workflow}, {result.recorded} matching tags "
            "recorded; nothing started (poll_existing: true would start runs for them)",
            workflow=target.workflow,
            registry=target.registry,
            repository=target.repository,
        )
    for event, runs in result.planned:
        headline = f"poll {where}:{logs.clean(event.tag)} is {event.digest[:19]}…"
        note_planned("poll", headline, "poll", event, runs)
    if result.covered:
        logs.note(
            "poll.covered",
            f"poll {where}: {', '.join(map(logs.clean, result.covered))} reported by a "
            "webhook already; nothing new",
            workflow=target.workflow,
        )
