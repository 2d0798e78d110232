"""Retention on SQLite and PostgreSQL: the prune removes what the settings say and
nothing else, leaves no orphans, and two processes pruning at once do not collide."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.seeding import seed_runs
from tidegate.cli import app
from tidegate.config import Settings
from tidegate.engine.prune import prune_once
from tidegate.engine.runtime import Runtime
from tidegate.security.allowlist import AllowList
from tidegate.store import leases
from tidegate.store.db import Database
from tidegate.store.migrate import upgrade
from tidegate.store.models import (
    Approval,
    ApprovalDecision,
    AuditEntry,
    Delivery,
    Event,
    Job,
    LogLine,
    Promotion,
    Run,
    Step,
    WebSession,
    utcnow,
)
from tidegate.store.retention import Policy, prune
from tidegate.store.web_sessions import create_session, end_session, find_session

NOW = utcnow()
DAY = timedelta(days=1)


@pytest.fixture
def db(tmp_path: Path, database_url: str) -> Iterator[Database]:
    database = Database(Settings(data_dir=tmp_path, database_url=database_url).db_url)
    upgrade(database.engine)
    try:
        yield database
    finally:
        database.dispose()


def ago(days: float) -> datetime:
    return NOW - days * DAY


def run_ids(db: Database) -> set[str]:
    with db.session() as session:
        return set(session.scalars(select(Run.id)))


def rows_of(db: Database, table: type, run_id: str) -> int:
    with db.session() as session:
        return int(
            session.scalar(select(func.count()).select_from(table).where(table.run_id == run_id))
        )  # type: ignore[attr-defined]


def orphans(db: Database) -> dict[str, int]:
    """Rows whose run (or approval, or event) is gone: must all be 0."""
    found = {}
    with db.session() as session:
        for table in (LogLine, Step, Job, Delivery, Promotion, Approval):
            gone = ~table.run_id.in_(select(Run.id))  # type: ignore[attr-defined]
            found[table.__tablename__] = session.scalar(
                select(func.count()).select_from(table).where(gone)
            )
        found["approval_decisions"] = session.scalar(
            select(func.count())
            .select_from(ApprovalDecision)
            .where(~ApprovalDecision.approval_id.in_(select(Approval.id)))
        )
        found["runs without event"] = session.scalar(
            select(func.count()).select_from(Run).where(~Run.event_id.in_(select(Event.id)))
        )
    return {name: int(count or 0) for name, count in found.items()}


def add_event(db: Database, event_id: str, received: datetime) -> None:
    with db.session() as session:
        session.add(
            Event(
                id=event_id,
                source="dockerhub",
                delivery_id=event_id,
                registry_host="docker.io",
                repository="acme/web",
                received_at=received,
                raw={},
            )
        )


def test_prune_removes_what_the_settings_say_and_nothing_else(db: Database) -> None:
    old = seed_runs(
        db,
        6,
        finished_at=lambda i: ago(40 + i),
        status=lambda i: "failed" if i == 0 else "succeeded",
    )
    recent = seed_runs(db, 3, finished_at=lambda i: ago(1 + i))
    live = seed_runs(
        db, 3, finished_at=lambda _i: ago(90), status=lambda i: ("queued", "running", "waiting")[i]
    )
    (promoted,) = seed_runs(db, 1, finished_at=lambda _i: ago(45), promoted=lambda _i: True)
    (approved,) = seed_runs(db, 1, finished_at=lambda _i: ago(50), approved=lambda _i: True)
    (ancient,) = seed_runs(
        db, 1, finished_at=lambda _i: ago(400), promoted=lambda _i: True, approved=lambda _i: True
    )
    add_event(db, "ev_runless_old", ago(31))
    add_event(db, "ev_runless_new", ago(29))
    with db.session() as session:
        session.add(AuditEntry(actor="alice", action="hook.create", target="h1", at=ago(366)))
        session.add(AuditEntry(actor="alice", action="hook.create", target="h2", at=ago(364)))
    policy = Policy(run_days=30, runs_per_workflow=0, audit_days=365, event_days=30)

    dry = prune(db, policy, NOW, dry_run=True)
    assert len(run_ids(db)) == 15  # a dry run changes nothing

    removed = prune(db, policy, NOW)

    assert dry.counts() | {"writes": 0} == removed.counts() | {"writes": 0}
    assert (removed.runs, removed.kept_for_audit, removed.events, removed.audit_entries) == (
        7,
        2,
        8,
        1,
    )
    assert removed.log_lines == 9 * 10 and removed.promotions == 1 and removed.approvals == 1
    left = run_ids(db)
    assert not {r.run_id for r in old} & left and ancient.run_id not in left
    for kept in (*recent, *live):  # untouched, log and all
        assert kept.run_id in left
        assert rows_of(db, LogLine, kept.run_id) == 10 and rows_of(db, Step, kept.run_id) == 3
    for audited in (promoted, approved):  # the row and its audit trail stay; the log goes
        assert audited.run_id in left
        assert (
            rows_of(db, LogLine, audited.run_id) == 0 and rows_of(db, Delivery, audited.run_id) == 0
        )
    assert (
        rows_of(db, Promotion, promoted.run_id) == 1 and rows_of(db, Approval, approved.run_id) == 1
    )
    with db.session() as session:
        assert session.get(Run, promoted.run_id).pruned_at is not None  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(ApprovalDecision)) == 1
        events = set(session.scalars(select(Event.id)))
        assert "ev_runless_new" in events and "ev_runless_old" not in events
        assert {r.event_id for r in (*recent, *live, promoted, approved)} <= events
        assert list(session.scalars(select(AuditEntry.target))) == ["h2"]
    assert orphans(db) == dict.fromkeys(orphans(db), 0)
    assert prune(db, policy, NOW).total() == 0  # nothing more to do

    past_audit = prune(db, Policy(run_days=30, audit_days=40, event_days=30), NOW)
    assert past_audit.runs == 2 and run_ids(db) == {r.run_id for r in (*recent, *live)}
    assert orphans(db) == dict.fromkeys(orphans(db), 0)


def test_count_keeps_the_newest_of_each_workflow_and_zero_keeps_all(db: Database) -> None:
    seeded = seed_runs(
        db,
        16,
        finished_at=lambda i: ago(1 + i / 10),  # run 0 the newest
        workflow=lambda i: "web" if i % 2 else "api",
    )
    assert (
        prune(db, Policy(run_days=0, runs_per_workflow=0, audit_days=0, event_days=0), NOW).total()
        == 0
    )
    assert len(run_ids(db)) == 16

    # Runs 10 to 15 are past both limits: a dry run counts each once.
    policy = Policy(run_days=1.95, runs_per_workflow=5, audit_days=0, event_days=0)
    dry = prune(db, policy, NOW, dry_run=True)
    removed = prune(db, policy, NOW)

    assert dry.runs == 6 and dry.log_lines == removed.log_lines
    assert removed.runs == 6
    newest = {s.run_id for i, s in enumerate(seeded) if i < 10}  # 5 of each workflow
    assert run_ids(db) == newest
    assert orphans(db) == dict.fromkeys(orphans(db), 0)


def test_a_lease_is_held_by_one_and_lapses_when_its_holder_dies(db: Database) -> None:
    ttl = timedelta(minutes=5)
    assert leases.acquire(db, "prune", "a", ttl, NOW)
    assert not leases.acquire(db, "prune", "b", ttl, NOW + timedelta(minutes=1))
    assert leases.holder_of(db, "prune", NOW) == "a"
    assert leases.acquire(db, "prune", "b", ttl, NOW + timedelta(minutes=6))  # a stopped renewing
    assert not leases.renew(db, "prune", "a", ttl, NOW + timedelta(minutes=6))
    leases.release(db, "prune", "b", NOW + timedelta(minutes=7))
    assert leases.acquire(db, "prune", "a", ttl, NOW + timedelta(minutes=7))


def _prune_in_a_process(data_dir: str, database_url: str, go: object, out: object) -> None:
    settings = Settings(data_dir=Path(data_dir), database_url=database_url, retention_audit_days=0)
    runtime = Runtime(
        settings=settings,
        db=Database(settings.db_url),
        executors={},
        callback_allow=AllowList([]),
        notify_allow=AllowList([]),
    )
    go.wait()  # type: ignore[attr-defined]
    removed = prune_once(runtime, forget=lambda _gone: None)
    out.put(None if removed is None else removed.runs)  # type: ignore[attr-defined]
    runtime.db.dispose()


def test_two_processes_pruning_at_once_do_not_collide(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    seeded = seed_runs(db, 1_000, finished_at=lambda i: ago(31 + i / 100), lines=20)
    (kept,) = seed_runs(db, 1, finished_at=lambda _i: ago(2))
    spawn = multiprocessing.get_context("spawn")
    go, out = spawn.Barrier(2), spawn.Queue()
    workers = [
        spawn.Process(target=_prune_in_a_process, args=(str(tmp_path), database_url, go, out))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]  # neither failed
    results = [out.get(timeout=5) for _ in workers]
    # One pruned everything; the other found the lease taken or nothing left to do.
    assert sorted(r or 0 for r in results) == [0, len(seeded)]
    assert run_ids(db) == {kept.run_id}
    assert rows_of(db, LogLine, kept.run_id) == 10
    assert orphans(db) == dict.fromkeys(orphans(db), 0)


def test_the_prune_command_says_what_it_would_remove_then_removes_it(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    seed_runs(db, 4, finished_at=lambda i: ago(31 + i))
    seed_runs(db, 2, finished_at=lambda i: ago(1 + i))
    env = {"TIDEGATE_DATA_DIR": str(tmp_path), "TIDEGATE_DATABASE_URL": database_url}

    dry = CliRunner().invoke(app, ["prune", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would remove 4 runs, 40 log lines" in dry.stdout
    assert len(run_ids(db)) == 6

    done = CliRunner().invoke(app, ["prune", "--json"], env=env)
    assert done.exit_code == 0, done.output
    figures = json.loads(done.stdout)
    assert (figures["dry_run"], figures["runs"], figures["log_lines"]) == (False, 4, 40)
    assert len(run_ids(db)) == 2


def test_signed_out_and_expired_web_sessions_are_pruned(db: Database) -> None:
    with db.session() as session:
        for token, expires in (("live", NOW + DAY), ("expired", ago(0.01)), ("out", NOW + DAY)):
            create_session(
                session, token=token, user="alice", role="admin", csrf="c", expires_at=expires
            )
        end_session(session, "out")
    policy = Policy(run_days=30, runs_per_workflow=0, audit_days=365, event_days=30)

    assert prune(db, policy, NOW, dry_run=True).web_sessions == 2
    assert prune(db, policy, NOW).web_sessions == 2
    with db.session() as session:
        assert find_session(session, "live") is not None  # still signs alice in
        assert session.scalar(select(func.count()).select_from(WebSession)) == 1
