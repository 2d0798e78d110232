"""While webhooks come in, the launcher holds run starts back; once they stop, it
starts the rest at once. (The starts are recorded instead of made: the policy of when
to start is what is under test; tests/integration/test_intake_launch.py starts real runs.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tidegate.engine import launcher as launcher_module
from tidegate.engine.launcher import UNDER_PRESSURE_EVERY, Launcher


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    record: list[tuple[str, float]] = []

    async def start_run(run_id: str, key: str | None, on_end: Callable[[], None]) -> None:
        record.append((run_id, time.monotonic()))

    monkeypatch.setattr(launcher_module, "start_run", start_run)
    return record


def test_starts_wait_for_a_burst_of_webhooks_to_end(started: list[tuple[str, float]]) -> None:
    busy = True
    launcher = Launcher(poll_seconds=1e9, busy=lambda: busy)  # no poll: no database

    async def scenario() -> tuple[int, int]:
        nonlocal busy
        task = asyncio.create_task(launcher.run(runtime=None))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        launcher.wake([(f"run{i}", None) for i in range(20)])
        held = UNDER_PRESSURE_EVERY * 3
        await asyncio.sleep(held)
        during = len(started)
        busy = False  # the burst ends
        await asyncio.sleep(0.2)
        after = len(started)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return during, after

    during, after = asyncio.run(scenario())
    # One start per UNDER_PRESSURE_EVERY at most while busy (load can only make it fewer),
    # but not none: a run of a long burst is not starved.
    assert 1 <= during <= 4, during
    assert after == 20
    assert sorted(run_id for run_id, _ in started) == sorted(f"run{i}" for i in range(20))


def test_a_quiet_intake_starts_runs_at_once(started: list[tuple[str, float]]) -> None:
    launcher = Launcher(poll_seconds=1e9)

    async def scenario() -> None:
        task = asyncio.create_task(launcher.run(runtime=None))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        launcher.wake([(f"run{i}", None) for i in range(40)])
        for _ in range(100):
            if len(started) == 40:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert len(started) == 40


def test_a_poll_put_off_by_webhooks_leaves_the_event_loop_free(
    started: list[tuple[str, float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Webhooks that start no run keep the intake busy with nothing pending: the poll
    they put off must be waited for, not spun on (that held the event loop, and every
    answer, for seconds)."""
    polls: list[float] = []

    async def poll(self: Launcher, runtime: object) -> None:
        polls.append(time.monotonic())

    monkeypatch.setattr(Launcher, "_poll", poll)
    asked = 0

    def busy() -> bool:
        nonlocal asked
        asked += 1
        return len(polls) > 0  # webhooks arrive from just after the first poll on

    launcher = Launcher(poll_seconds=0.02, busy=busy)

    async def scenario() -> int:
        task = asyncio.create_task(launcher.run(runtime=None))  # type: ignore[arg-type]
        ticks = 0
        began = time.monotonic()
        while time.monotonic() - began < 0.3:  # the loop turns as it should meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return ticks

    ticks = asyncio.run(scenario())
    assert len(polls) == 1  # put off: POLL_UNDER_PRESSURE has not passed
    assert ticks >= 10
    assert asked < 100, f"busy() asked {asked} times in 0.3 s: the launcher spins"


def test_no_more_runs_run_at_once_than_max_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rest wait, queued, and start as running ones end; a start that failed takes
    no room (its run is left queued for the poll)."""
    ends: dict[str, Callable[[], None]] = {}

    async def start_run(run_id: str, key: str | None, on_end: Callable[[], None]) -> None:
        if run_id == "run0":
            raise RuntimeError("the database went away")
        ends[run_id] = on_end

    monkeypatch.setattr(launcher_module, "start_run", start_run)
    launcher = Launcher(poll_seconds=1e9, max_running=3)

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0.01)

    async def scenario() -> tuple[list[str], list[str], list[str], int]:
        task = asyncio.create_task(launcher.run(runtime=None))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        launcher.wake([(f"run{i}", None) for i in range(10)])
        await settle()
        first = sorted(ends)
        ends.pop("run1")()
        ends.pop("run2")()  # ended: on the engine's thread in real life
        await settle()
        second = sorted(ends)
        ticks = 0  # nothing ends meanwhile: the launcher waits, it does not spin
        began = time.monotonic()
        while time.monotonic() - began < 0.2:
            await asyncio.sleep(0.01)
            ticks += 1
        for end in list(ends.values()):
            end()
        ends.clear()
        await settle()
        third = sorted(ends)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return first, second, third, ticks

    first, second, third, ticks = asyncio.run(scenario())
    assert first == ["run1", "run2", "run3"]  # run0 failed: its room went to run3
    assert second == ["run3", "run4", "run5"]
    assert third == ["run6", "run7", "run8"]
    assert ticks >= 10
