"""Poll state on SQLite and PostgreSQL: leases taken once among processes, and the
sightings that let a webhook and a poll of one push start one run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tidegate.config import Settings
from tidegate.store import poll_state, push_sightings
from tidegate.store.db import Database
from tidegate.store.migrate import upgrade
from tidegate.store.models import utcnow
from tidegate.store.poll_state import Wanted
from tidegate.store.push_sightings import PushKey

LEASE = timedelta(minutes=2)
KEY = PushKey("127.0.0.1:5000", "acme/web", "v1", "sha256:" + "a" * 64)


@pytest.fixture
def db(tmp_path: Path, database_url: str) -> Iterator[Database]:
    handle = Database(Settings(data_dir=tmp_path, database_url=database_url).db_url)
    upgrade(handle.engine)
    try:
        yield handle
    finally:
        handle.dispose()


def wanted(count: int, interval: float = 1.0) -> list[Wanted]:
    return [Wanted("watch", "127.0.0.1:5000", f"acme/r{i}", interval) for i in range(count)]


def test_processes_racing_for_due_targets_take_each_once(db: Database) -> None:
    with db.session() as session:
        poll_state.sync_targets(session, wanted(40), utcnow())
    now = utcnow() + timedelta(seconds=1)  # first polls are spread over the interval
    got: dict[str, list[str]] = {}
    start = threading.Barrier(4)

    def claim(holder: str) -> None:
        start.wait()
        with db.session() as session:
            got[holder] = [t.id for t in poll_state.claim_due(session, holder, now, LEASE)]

    threads = [threading.Thread(target=claim, args=(f"p{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [target for ids in got.values() for target in ids]
    assert len(taken) == 40 and len(set(taken)) == 40  # every target, each by one process


def test_a_lease_lost_meanwhile_writes_nothing_and_an_expired_one_is_taken(
    db: Database,
) -> None:
    synced = utcnow()
    now = synced + timedelta(seconds=1)  # its first poll is due by then (within 1 s)
    with db.session() as session:
        poll_state.sync_targets(session, wanted(1), synced)
        (mine,) = poll_state.claim_due(session, "a", now, LEASE)
        assert poll_state.claim_due(session, "b", now, LEASE) == []  # held
    later = now + LEASE + timedelta(seconds=1)  # "a" died mid-poll
    with db.session() as session:
        (theirs,) = poll_state.claim_due(session, "b", later, LEASE)
        assert theirs.id == mine.id
    with db.session() as session:
        written = poll_state.finish(
            session,
            mine,
            "a",
            tags={"v1": KEY.digest},
            filter_key="",
            polled_at=now,
            next_due=later,
        )
        assert not written
        assert poll_state.finish(
            session,
            theirs,
            "b",
            tags={"v1": KEY.digest},
            filter_key="",
            polled_at=later,
            next_due=later + timedelta(seconds=1),
        )
        (target,) = poll_state.list_targets(session)
    assert target.tags == {"v1": KEY.digest} and target.polled_at == later


def test_targets_follow_the_workflows(db: Database) -> None:
    now = utcnow()
    with db.session() as session:
        poll_state.sync_targets(session, wanted(3), now)
        poll_state.sync_targets(session, wanted(2, interval=300), now)
        found = poll_state.list_targets(session)
    assert sorted(t.repository for t in found) == ["acme/r0", "acme/r1"]
    assert {t.interval for t in found} == {300}


def test_a_webhook_then_a_poll_of_one_push(db: Database) -> None:
    now = utcnow()
    previous_poll = now - timedelta(seconds=5)
    with db.session() as session:
        assert push_sightings.take_for_webhook(session, KEY, "registry", now, now) is None
        # The webhook came after the previous poll began: the poll leaves the push out.
        assert not push_sightings.take_for_poll(session, KEY, "ev_1", now, previous_poll)
        # A webhook before the previous poll reported an earlier push of that digest.
        later = now + timedelta(minutes=5)
        assert push_sightings.take_for_poll(
            session, KEY, "ev_2", later, later - timedelta(minutes=1)
        )


def test_a_poll_then_a_webhook_of_one_push(db: Database) -> None:
    now = utcnow()
    window = timedelta(hours=1)
    with db.session() as session:
        assert push_sightings.take_for_poll(session, KEY, "ev_1", now, now - timedelta(1))
        assert push_sightings.take_for_webhook(session, KEY, "registry", now, now - window) == (
            "ev_1"
        )
        # Long after: a push of its own.
        much_later = now + 2 * window
        found = push_sightings.take_for_webhook(
            session, KEY, "registry", much_later, much_later - window
        )
        assert found is None


def test_a_docker_hub_webhook_without_digest_covers_the_tag_for_the_next_poll(
    db: Database,
) -> None:
    now = utcnow()
    with db.session() as session:
        hub = KEY._replace(registry="docker.io", digest="")
        assert push_sightings.take_for_webhook(session, hub, "dockerhub", now, now) is None
        polled = KEY._replace(registry="docker.io")
        assert not push_sightings.take_for_poll(session, polled, "ev_1", now, now - timedelta(1))


def test_racing_webhook_and_poll_take_a_push_once(db: Database) -> None:
    now = utcnow()
    results: dict[str, object] = {}
    start = threading.Barrier(2)

    def poll() -> None:
        start.wait()
        with db.session() as session:
            results["poll"] = push_sightings.take_for_poll(
                session, KEY, "ev_p", now, now - timedelta(seconds=5)
            )

    def webhook() -> None:
        start.wait()
        with db.session() as session:
            results["webhook"] = push_sightings.take_for_webhook(
                session, KEY, "registry", now, now - timedelta(hours=1)
            )

    threads = [threading.Thread(target=poll), threading.Thread(target=webhook)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    poll_won = results["poll"] is True
    webhook_won = results["webhook"] is None
    assert poll_won != webhook_won, results  # exactly one of them starts runs
