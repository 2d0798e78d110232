"""kill -9 the server ten times while 1,000 webhooks arrive; nothing answered is lost.

A few sender threads post unique Docker Hub pushes (and now and then resend one that
was already answered), retrying on connection errors and 5xx as a registry would. The
real `tidegate serve` process is killed with SIGKILL at spread-out moments and
restarted. Afterwards, on the database and through the API:

- every delivery answered 2xx is stored exactly once, with all its planned runs (one per
  matching workflow; two workflows, one of which matches a fifth of the pushes);
- no run is duplicated: one run per event and workflow, one DBOS workflow per run;
- every run succeeds after the last restart, the engine never stalling for a minute;
- the step of each run ran at least once and at most once per server life: a step in
  flight when the server dies runs again, once (docs/operations.md, "Restarts and
  crashes"); a finished one never does;
- the server answered only 2xx or 4xx; connection errors only while it was down.

Each run's step appends "RUN_ID PPID PID" to a file. The parent of the step's shell is
the server process that started it, so a line tells which server life ran the step;
a shell that started after its server had died (an orphan of a kill) has another parent.
The shell's pid is its process group, which the server records in its ledger
(DATA_DIR/process-groups) to kill orphans at the next start, and before the spawn it
claims a key there that the shell carries (TIDEGATE_STEP_KEY): the test reads the
ledger after each kill and asserts every orphan was on it, by group or by key (an
orphan on neither would outlive the reap and run beside its re-execution).
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from tests.support import ServeProcess, eventually, serve_env
from tidegate.config import Settings
from tidegate.events.sources import body_hash
from tidegate.events.sources.dockerhub import dockerhub_payload

# Its own timeout: 1,200 runs and eleven server starts take minutes on a slow machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

WEBHOOKS = 1000
KILLS = 10
SENDERS = 4
RESEND_SHARE = 0.1  # of sends: a body already answered 2xx, sent again
# The runs must keep finishing after the last restart: the test fails when none has
# finished for this long (the engine is stuck), not by a deadline on them all, which a
# slower machine would miss without anything being wrong.
STALLED = 60.0
# Two workflows: every push starts "kill-loop", pushes to acme/app-0 (a fifth) also
# "kill-loop-app0", so an event with only part of its plan stored would show.
WORKFLOWS = {"kill-loop": "**", "kill-loop-app0": "acme/app-0"}
REPOSITORIES = 5


def planned(index: int) -> set[str]:
    """The workflows body `index` starts."""
    return {"kill-loop", "kill-loop-app0"} if index % REPOSITORIES == 0 else {"kill-loop"}


RUNS = sum(len(planned(i)) for i in range(WEBHOOKS))


@dataclass
class Attempt:
    """One POST and what came of it: a status code, or a transport error."""

    index: int  # which body
    resend: bool  # a body already answered 2xx, sent again on purpose
    began: float
    ended: float
    status: int | None = None
    error: str = ""
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class Life:
    """One server process: its pid, when it was ready and when it was killed."""

    pid: int
    ready: float
    ledger: set[str] = field(default_factory=set)  # groups and claims on record at the kill
    cpu: float = 0.0  # seconds of CPU the server used (user + system), read at its end
    killed: float | None = None
    # Wall clock, as the steps' checkpoints (their rows' `finished_at`): from the spawn
    # (a starting server recovers workflows before it accepts connections) to the kill.
    spawned_wall: float = 0.0
    killed_wall: float | None = None


class Senders:
    """Threads that deliver every body until it is answered, as a registry would."""

    def __init__(self, url: str, bodies: list[bytes], seed: int) -> None:
        self.url = url
        self.bodies = bodies
        self.seed = seed
        self.lock = threading.Lock()
        self.next_index = iter(range(len(bodies)))
        self.attempts: list[Attempt] = []
        self.acked: dict[int, Attempt] = {}  # body index -> its first 2xx
        self.failures: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._guarded, args=(n,), daemon=True, name=f"sender-{n}")
            for n in range(SENDERS)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self.threads if t.is_alive()]
        assert not alive, f"senders still running after {timeout}s: {alive}"
        assert not self.failures, self.failures

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)

    def _guarded(self, number: int) -> None:
        try:
            self._send_all(random.Random(self.seed * 100 + number))
        except BaseException as exc:  # reported by join(), not lost in the thread
            self.failures.append(exc)

    def _send_all(self, rng: random.Random) -> None:
        with httpx2.Client(timeout=30) as client:
            while True:
                with self.lock:
                    index = next(self.next_index, None)
                    answered = list(self.acked)
                if index is None:
                    return
                if answered and rng.random() < RESEND_SHARE:
                    self._deliver(client, rng.choice(answered), resend=True)
                self._deliver(client, index, resend=False)

    def _deliver(self, client: httpx2.Client, index: int, *, resend: bool) -> None:
        """Post until 2xx or 4xx; back off after a connection error or a 5xx."""
        backoff = 0.05
        while True:
            attempt = Attempt(index, resend, began=time.monotonic(), ended=0.0)
            try:
                response = client.post(
                    self.url,
                    content=self.bodies[index],
                    headers={"Content-Type": "application/json"},
                )
            except httpx2.TransportError as exc:
                attempt.error = f"{type(exc).__name__}: {exc}"
            else:
                attempt.status = response.status_code
                if response.status_code < 300:
                    attempt.answer = dict(response.json())
            attempt.ended = time.monotonic()
            with self.lock:
                self.attempts.append(attempt)
                if attempt.status is not None and attempt.status < 300 and not resend:
                    self.acked.setdefault(index, attempt)
            if attempt.status is not None and attempt.status < 500:
                return
            time.sleep(backoff)  # a registry's retry back-off, not a synchronisation
            backoff = min(backoff * 2, 0.5)


@pytest.fixture
def serve(tmp_path: Path, database_url: str) -> Iterator[ServeProcess]:
    env = serve_env(tmp_path, database_url)
    process = ServeProcess(env=env, cwd=tmp_path, url=env["TIDEGATE_URL"])
    try:
        yield process
    finally:
        process.stop()


def _bodies() -> list[bytes]:
    """Unique Docker Hub pushes: a tag per body, a handful of repositories and pushers."""
    return [
        dockerhub_payload(f"acme/app-{i % REPOSITORIES}:build-{i}", pusher=f"ci-{i % 7}")
        for i in range(WEBHOOKS)
    ]


def _settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


def _marks(path: Path) -> dict[str, list[tuple[int, int, str]]]:
    """run id -> (parent pid, own pid, ledger key) of its step's shell, once per execution."""
    seen: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    if path.exists():
        for line in path.read_text().splitlines():
            run_id, parent, pid, key = line.split()
            seen[run_id].append((int(parent), int(pid), key))
    return seen


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ledger(tmp_path: Path) -> set[str]:
    """The ledger's entries: process-group ids, and `key-…` claims not yet recorded."""
    groups = tmp_path / "data" / "process-groups"
    return {p.name for p in groups.iterdir()} if groups.is_dir() else set()


def _api_pages(serve: ServeProcess, path: str) -> list[dict[str, Any]]:
    """Every row of a list endpoint, 500 at a time (newest first, `before` the last id)."""
    rows: list[dict[str, Any]] = []
    with serve.client() as c:
        while True:
            params: dict[str, Any] = {"limit": 500}
            if rows:
                params["before"] = rows[-1]["id"]
            response = c.get(path, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            if not page:
                return rows
            rows.extend(page)


def test_kill_loop_loses_no_answered_webhook(
    serve: ServeProcess, tmp_path: Path, database_url: str
) -> None:
    seed = int(os.environ.get("TIDEGATE_KILL_LOOP_SEED", time.time_ns() % 1_000_000))
    print(f"kill loop seed: {seed} (TIDEGATE_KILL_LOOP_SEED to repeat)")
    rng = random.Random(seed)
    marks = tmp_path / "marks"
    marks.mkdir()
    for name, repositories in WORKFLOWS.items():
        (tmp_path / "workflows" / f"{name}.yaml").write_text(
            f"""
name: {name}
on_unresolved: tag
on: {{image: {{repositories: ["{repositories}"]}}}}
jobs:
  mark:
    steps:
      - run: echo "$TIDEGATE_RUN_ID $PPID $$ $TIDEGATE_STEP_KEY" >> {marks}/runs
"""
        )
    bodies = _bodies()
    began, spawned = time.monotonic(), time.time()
    serve.start()
    lives = [Life(serve.proc.pid, ready=time.monotonic(), spawned_wall=spawned)]
    senders = Senders(serve.hooks["dockerhub"], bodies, seed)
    senders.start()

    # Kill when a share of the deliveries has been answered: spread over the whole
    # intake, at a random point within each share.
    share = WEBHOOKS / (KILLS + 1)
    for k in range(KILLS):
        threshold = int(share * (k + 1) + rng.uniform(-share / 3, share / 3))
        eventually(lambda t=threshold: senders.acked_count() >= t, timeout=120, interval=0.01)
        lives[-1].cpu = _cpu_seconds(serve.proc.pid)
        lives[-1].killed, lives[-1].killed_wall = time.monotonic(), time.time()
        serve.kill9()
        lives[-1].ledger = _ledger(tmp_path)
        spawned = time.time()
        serve.start()
        lives.append(Life(serve.proc.pid, ready=time.monotonic(), spawned_wall=spawned))
    last_restart = time.monotonic()
    senders.join(timeout=120)
    sent = time.monotonic()

    engine = sa.create_engine(_settings(tmp_path, database_url).db_url)
    try:

        def finished() -> int:
            with engine.connect() as conn:
                return int(
                    conn.scalar(
                        sa.text("SELECT COUNT(*) FROM runs WHERE status IN ('succeeded', 'failed')")
                    )
                    or 0
                )

        progress, moved = finished(), time.monotonic()
        while progress < RUNS:
            if time.monotonic() - moved > STALLED:
                with engine.connect() as conn:
                    counts = conn.execute(sa.text("SELECT status, COUNT(*) FROM runs GROUP BY 1"))
                    raise AssertionError(
                        f"no run finished for {STALLED}s, "
                        f"{time.monotonic() - last_restart:.0f}s after the last restart: "
                        f"{dict(counts.all())}"
                    )
            time.sleep(0.2)
            now = finished()
            if now > progress:
                progress, moved = now, time.monotonic()
        done = time.monotonic()
        lives[-1].cpu = _cpu_seconds(serve.proc.pid)
        print(
            f"kill loop ({'postgres' if database_url else 'sqlite'}): "
            f"{len(senders.attempts)} posts, {KILLS} kills; last restart at "
            f"{last_restart - began:.1f}s, all answered at {sent - began:.1f}s, "
            f"all runs finished at {done - began:.1f}s; restarts (kill to ready) took "
            f"{', '.join(f'{b.ready - a.killed:.1f}' for a, b in itertools.pairwise(lives))}s; "
            f"server CPU {sum(life.cpu for life in lives):.1f}s, load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        _check_answers(senders, lives)
        _check_database(engine, bodies, senders)
        _check_engine(tmp_path, database_url, engine)
        _check_steps(marks / "runs", engine, lives, _step_checkpoints(engine))
    finally:
        engine.dispose()
    _check_api(serve)


def _check_answers(senders: Senders, lives: list[Life]) -> None:
    """2xx or 4xx from a live server; connection errors only between a kill and ready."""
    statuses = Counter(a.status for a in senders.attempts if a.status is not None)
    assert all(200 <= s < 500 for s in statuses), statuses
    assert set(statuses) <= {202}, f"valid pushes answered {statuses}"
    downs = [(life.killed, nxt.ready) for life, nxt in itertools.pairwise(lives)]
    stray = [
        a
        for a in senders.attempts
        if a.error and not any(killed <= a.ended <= ready for killed, ready in downs)
    ]
    assert not stray, f"connection errors while the server was up: {stray[:5]}"
    assert sorted(senders.acked) == list(range(WEBHOOKS)), "some deliveries never answered 2xx"
    resends = [a for a in senders.attempts if a.resend and a.status == 202]
    assert len(resends) >= WEBHOOKS * RESEND_SHARE / 2, len(resends)
    for a in resends:  # an answered body sent again: the same event, nothing new
        first = senders.acked[a.index].answer
        assert a.answer["events"] == [] and a.answer["runs"] == [], a
        assert a.answer["duplicates"] == first["events"] + first["duplicates"], (a, first)
    errors = sum(1 for a in senders.attempts if a.error)
    print(f"answers: {dict(statuses)}, connection errors: {errors}, resends: {len(resends)}")


def _check_database(engine: sa.Engine, bodies: list[bytes], senders: Senders) -> None:
    """Each answered delivery stored once, with exactly its planned run."""
    with engine.connect() as conn:
        doubled = conn.execute(
            sa.text(
                "SELECT source, delivery_id, COUNT(*) FROM events "
                "GROUP BY source, delivery_id HAVING COUNT(*) > 1"
            )
        ).all()
        assert doubled == []
        events = {
            delivery: (event_id, run_count)
            for event_id, delivery, run_count in conn.execute(
                sa.text("SELECT id, delivery_id, run_count FROM events WHERE source = 'dockerhub'")
            )
        }
        total_events = conn.scalar(sa.text("SELECT COUNT(*) FROM events"))
        runs = conn.execute(sa.text("SELECT id, event_id, workflow_name, trigger FROM runs")).all()
        doubled_runs = conn.execute(
            sa.text(
                "SELECT event_id, workflow_name, COUNT(*) FROM runs "
                "GROUP BY event_id, workflow_name HAVING COUNT(*) > 1"
            )
        ).all()
    assert total_events == WEBHOOKS
    assert doubled_runs == []
    assert len(runs) == RUNS
    runs_of: dict[str, dict[str, str]] = defaultdict(dict)  # event -> workflow -> run
    for run_id, event_id, workflow, trigger in runs:
        assert trigger == "webhook", (run_id, trigger)
        runs_of[event_id][workflow] = run_id
    for index, attempt in senders.acked.items():
        stored = events.get(body_hash(bodies[index]))
        assert stored is not None, f"answered delivery {index} is not stored: {attempt}"
        event_id, run_count = stored
        answer = attempt.answer
        # New, or stored by an attempt whose answer the kill swallowed: the same event.
        assert answer["events"] + answer["duplicates"] == [event_id], (attempt, event_id)
        assert set(runs_of[event_id]) == planned(index), (event_id, runs_of[event_id])
        assert run_count == len(planned(index)), (event_id, run_count)
        if answer["events"]:
            assert sorted(answer["runs"]) == sorted(runs_of[event_id].values()), (
                attempt,
                runs_of[event_id],
            )


def _check_engine(tmp_path: Path, database_url: str, engine: sa.Engine) -> None:
    """Every run succeeded, its one job and step too; one DBOS workflow per run."""
    with engine.connect() as conn:
        statuses = Counter(conn.execute(sa.text("SELECT status FROM runs")).scalars())
        jobs = conn.execute(
            sa.text("SELECT run_id, COUNT(*), MIN(status), MAX(status) FROM jobs GROUP BY run_id")
        ).all()
        steps = conn.execute(
            sa.text("SELECT run_id, COUNT(*), MIN(status), MAX(status) FROM steps GROUP BY run_id")
        ).all()
        run_ids = set(conn.execute(sa.text("SELECT id FROM runs")).scalars())
    assert statuses == {"succeeded": RUNS}, statuses
    assert len(jobs) == RUNS and {j[1:] for j in jobs} == {(1, "succeeded", "succeeded")}
    assert len(steps) == RUNS and {s[1:] for s in steps} == {(1, "succeeded", "succeeded")}

    # A run ends once its jobs' rows say so; a job's own workflow records its end a
    # moment later (or after recovery, if the kill fell in between): wait for them.
    sql = (
        "SELECT workflow_uuid, name, status, executor_id, recovery_attempts, "
        "created_at, updated_at FROM {schema}workflow_status"
    )

    def settled() -> list[Any] | None:
        rows = _system_rows(tmp_path, database_url, sql)
        return rows if all(row[2] == "SUCCESS" for row in rows) else None

    try:
        workflows = eventually(settled, timeout=30, interval=0.2)
    except AssertionError:
        rows = _system_rows(tmp_path, database_url, sql)
        raise AssertionError(
            f"DBOS workflows not all SUCCESS 30s after every run ended: "
            f"{[r for r in rows if r[2] != 'SUCCESS'][:10]}"
        ) from None
    by_name: dict[str, dict[str, str]] = defaultdict(dict)
    for workflow_id, name, status, *_ in workflows:
        by_name[name][workflow_id] = status
    assert set(by_name["tidegate.run"]) == run_ids
    assert set(by_name["tidegate.run"].values()) == {"SUCCESS"}
    assert set(by_name["tidegate.job"]) == {f"{run_id}.mark" for run_id in run_ids}
    assert set(by_name["tidegate.job"].values()) == {"SUCCESS"}


def _system_rows(tmp_path: Path, database_url: str, sql: str) -> list[Any]:
    """Rows of DBOS's own tables (schema `dbos` on PostgreSQL, a second file on SQLite)."""
    system = sa.create_engine(_settings(tmp_path, database_url).system_db_url)
    try:
        with system.connect() as conn:
            return list(conn.execute(sa.text(sql.format(schema="dbos." if database_url else ""))))
    finally:
        system.dispose()


def _step_checkpoints(engine: sa.Engine) -> dict[str, list[float]]:
    """run id -> when its step's outcome was checkpointed (seconds since the epoch): the
    step's row is its checkpoint, its final record written at `finished_at`."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT run_id, finished_at FROM steps WHERE status = 'succeeded'")
        ).all()
    done: dict[str, list[float]] = defaultdict(list)
    for run_id, finished in rows:
        if isinstance(finished, str):  # SQLite hands back the text it stores
            finished = datetime.fromisoformat(finished)
        done[run_id].append(finished.replace(tzinfo=UTC).timestamp())
    return done


def _check_steps(
    path: Path, engine: sa.Engine, lives: list[Life], checkpoints: dict[str, list[float]]
) -> None:
    """Each step ran, at most once per server life; a checkpointed step never again.

    An execution by a live server has that server as its shell's parent. One whose shell
    started after its server was killed (an orphan) has another: it belongs to a killed
    life and never is the last execution, the one whose outcome was checkpointed.
    """
    with engine.connect() as conn:
        run_ids = set(conn.execute(sa.text("SELECT id FROM runs")).scalars())
    seen = _marks(path)
    assert set(seen) == run_ids, (len(seen), len(run_ids))
    assert set(checkpoints) == run_ids
    pids = [life.pid for life in lives]
    orphans: list[tuple[str, int, int, str]] = []
    repeated = 0
    for run_id, ran in seen.items():
        repeated += len(ran) > 1
        by_server = [pids.index(parent) for parent, _, _ in ran if parent in pids]
        orphans.extend((run_id, p, pid, key) for p, pid, key in ran if p not in pids)
        # At most one execution per life, in the order of the lives.
        assert by_server == sorted(set(by_server)), (run_id, ran)
        assert len(ran) <= len(lives), (run_id, ran)
        # The last one ran under a live server, which checkpointed it: after its spawn,
        # before its kill. No execution came after the step's outcome was recorded.
        assert ran[-1][0] in pids, (run_id, ran)
        (completed,) = checkpoints[run_id]
        last = lives[pids.index(ran[-1][0])]
        assert last.spawned_wall - 0.01 <= completed, (run_id, ran, completed, last)
        assert last.killed_wall is None or completed <= last.killed_wall + 0.01, (
            run_id,
            ran,
            completed,
            last,
        )
    on_record = set().union(*(life.ledger for life in lives))
    unrecorded = [o for o in orphans if not {str(o[2]), f"key-{o[3]}"} & on_record]
    print(
        f"steps: {len(seen)} ran, {repeated} ran again after a kill; {len(orphans)} "
        f"executions by orphans of a killed server"
    )
    # Each orphan was on the ledger (by its group, or by the key claimed before its
    # spawn), so the next start's reap could kill it.
    assert not unrecorded, unrecorded[:5]


def _check_api(serve: ServeProcess) -> None:
    runs = _api_pages(serve, "/api/v1/runs")
    assert len(runs) == RUNS == len({r["id"] for r in runs})
    assert {r["status"] for r in runs} == {"succeeded"}
    events = _api_pages(serve, "/api/v1/events")
    assert len(events) == WEBHOOKS == len({e["delivery_id"] for e in events})
    runs_of = Counter(r["event_id"] for r in runs)
    assert set(runs_of) == {e["id"] for e in events}
    for event in events:
        assert event["run_count"] == runs_of[event["id"]], event
        assert event["run_count"] == (2 if event["repository"] == "acme/app-0" else 1), event
