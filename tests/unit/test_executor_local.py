"""The local executor against real processes: output, exit, env, timeout, cancel."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from tests.support import require
from tidegate.executors import (
    EXECUTORS,
    CommandSpec,
    LocalExecutor,
    LogLine,
    Outcome,
    shell_argv,
)
from tidegate.executors.ledger import KEY_VARIABLE, GroupLedger
from tidegate.executors.lines import split_lines

pytestmark = pytest.mark.anyio

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def sh(script: str, cwd: str | None = None, timeout: float | None = None) -> CommandSpec:
    return CommandSpec(argv=["sh", "-c", script], env=dict(ENV), cwd=cwd, timeout=timeout)


async def run(
    spec: CommandSpec, executor: LocalExecutor | None = None, cancel: asyncio.Event | None = None
) -> tuple[Outcome, list[LogLine]]:
    lines: list[LogLine] = []
    outcome = await (executor or LocalExecutor()).run(spec, lines.append, cancel or asyncio.Event())
    return outcome, lines


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_dead(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


def test_table() -> None:
    assert EXECUTORS["local"] is LocalExecutor


async def test_output_in_order_with_arrival_timestamps() -> None:
    outcome, lines = await run(sh("echo one; echo two; sleep 0.3; echo three"))
    assert outcome.exit_code == 0 and not outcome.timed_out and not outcome.cancelled
    assert [(line.stream, line.text) for line in lines] == [
        ("stdout", "one"),
        ("stdout", "two"),
        ("stdout", "three"),
    ]
    assert all(line.ts.tzinfo is UTC for line in lines)
    assert lines[0].ts <= lines[1].ts <= lines[2].ts
    assert lines[2].ts - lines[1].ts >= timedelta(seconds=0.25)  # stamped on arrival


async def test_stderr_is_captured() -> None:
    _, lines = await run(sh("echo out; echo err >&2"))
    assert sorted((line.stream, line.text) for line in lines) == [
        ("stderr", "err"),
        ("stdout", "out"),
    ]


@pytest.mark.parametrize("code", [0, 1, 3, 42])
async def test_exit_code(code: int) -> None:
    outcome, _ = await run(sh(f"exit {code}"))
    assert outcome.exit_code == code


async def test_env_is_exactly_the_given_one_and_cwd(tmp_path: Path) -> None:
    outcome, lines = await run(
        CommandSpec(argv=["/usr/bin/env"], env={"FOO": "bar baz"}, cwd=str(tmp_path))
    )
    assert outcome.exit_code == 0
    assert [line.text for line in lines] == ["FOO=bar baz"]
    _, lines = await run(sh("pwd", cwd=str(tmp_path)))
    assert [line.text for line in lines] == [str(tmp_path)]


async def test_last_line_without_newline() -> None:
    _, lines = await run(sh("printf 'a\\r\\nb\\nlast'"))
    assert [line.text for line in lines] == ["a", "b", "last"]


async def test_invalid_utf8_is_replaced() -> None:
    _, lines = await run(sh("printf 'ok \\377\\n'"))
    assert [line.text for line in lines] == ["ok \ufffd"]


async def test_huge_line_without_newline_is_split() -> None:
    script = "import sys; sys.stdout.write('x' * 200_000); sys.stdout.flush()"
    outcome, lines = await run(CommandSpec([sys.executable, "-c", script], env=dict(ENV)))
    assert outcome.exit_code == 0
    assert [len(line.text) for line in lines] == [65536, 65536, 65536, 200_000 - 3 * 65536]


def test_split_lines_keeps_utf8_sequences_whole() -> None:
    buf = bytearray("aé€😀".encode() * 3 + b"tail")
    pieces = split_lines(buf, 4)
    assert all(piece.decode() for piece in pieces)  # every piece decodes on its own
    assert b"".join(pieces) + bytes(buf) == "aé€😀".encode() * 3 + b"tail"
    assert all(len(piece) <= 4 for piece in pieces)


def test_split_lines_leaves_the_partial_line() -> None:
    buf = bytearray(b"one\ntwo\r\nthr")
    assert split_lines(buf, 100) == [b"one", b"two"]
    assert buf == b"thr"


async def test_timeout_kills_the_whole_group() -> None:
    spec = sh("sleep 100 & echo $!; wait", timeout=0.5)
    started = time.monotonic()
    outcome, lines = await run(spec, LocalExecutor(kill_grace=2))
    assert outcome.timed_out and not outcome.cancelled
    assert time.monotonic() - started < 2  # sh dies on SIGTERM: no need for the grace
    grandchild = int(lines[0].text)
    assert wait_dead(grandchild)


async def test_sigterm_ignored_then_sigkill_after_grace() -> None:
    # An ignored signal stays ignored across fork and exec: the grandchild ignores it too.
    spec = sh("trap '' TERM; sleep 100 & echo $!; wait; wait", timeout=0.3)
    started = time.monotonic()
    outcome, lines = await run(spec, LocalExecutor(kill_grace=0.5))
    elapsed = time.monotonic() - started
    assert outcome.timed_out
    assert outcome.exit_code == -9
    assert 0.7 <= elapsed < 3
    assert wait_dead(int(lines[0].text))


async def test_cancel_event_stops_the_group() -> None:
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, cancel.set)
    outcome, lines = await run(sh("sleep 100 & echo $!; wait"), cancel=cancel)
    assert outcome.cancelled and not outcome.timed_out
    assert outcome.exit_code is not None and outcome.exit_code < 0
    assert wait_dead(int(lines[0].text))


async def test_cancelled_before_start_runs_nothing(tmp_path: Path) -> None:
    cancel = asyncio.Event()
    cancel.set()
    marker = tmp_path / "ran"
    outcome, lines = await run(sh(f"touch {marker}"), cancel=cancel)
    assert outcome.exit_code is None and outcome.cancelled
    assert not marker.exists() and lines == []


async def test_leftovers_are_killed_when_the_command_exits() -> None:
    # The grandchild keeps stdout open; the run must still end, and the grandchild die.
    started = time.monotonic()
    outcome, lines = await run(sh("sleep 100 & echo $!"))
    assert outcome.exit_code == 0
    assert time.monotonic() - started < 2
    assert wait_dead(int(lines[0].text))


async def test_missing_command_is_exit_127() -> None:
    outcome, lines = await run(CommandSpec(["no-such-command-tidegate"], env=dict(ENV)))
    assert outcome.exit_code == 127
    assert lines[0].stream == "stderr" and "no-such-command-tidegate" in lines[0].text


async def test_async_on_line_is_awaited_one_at_a_time() -> None:
    seen: list[str] = []
    active = 0

    async def on_line(line: LogLine) -> None:
        nonlocal active
        active += 1
        assert active == 1
        await asyncio.sleep(0.001)
        seen.append(line.text)
        active -= 1

    spec = sh("for i in 1 2 3 4 5; do echo $i; echo e$i >&2; done")
    outcome = await LocalExecutor().run(spec, on_line, asyncio.Event())
    assert outcome.exit_code == 0
    assert sorted(seen) == sorted(["1", "2", "3", "4", "5", "e1", "e2", "e3", "e4", "e5"])


async def test_failing_on_line_propagates_and_kills() -> None:
    def on_line(line: LogLine) -> None:
        raise RuntimeError("sink down")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="sink down"):
        await LocalExecutor().run(sh("echo hi; sleep 100"), on_line, asyncio.Event())
    assert time.monotonic() - started < 2


async def test_close_is_idempotent() -> None:
    executor = LocalExecutor()
    await executor.close()
    await executor.close()


def test_shell_argv() -> None:
    assert shell_argv("echo hi", "bash") == ["bash", "-eo", "pipefail", "-c", "echo hi"]
    assert shell_argv("echo hi", "sh") == ["sh", "-e", "-c", "echo hi"]
    assert shell_argv("print(1)", "python3 -c") == ["python3", "-c", "print(1)"]
    assert shell_argv("x")[0] in {"bash", "sh"}


async def test_shell_argv_fails_fast() -> None:
    require(shutil.which("bash") is not None, "needs bash")
    outcome, lines = await run(CommandSpec(shell_argv("false | true; echo after"), env=dict(ENV)))
    assert outcome.exit_code == 1 and lines == []


async def test_cancelling_the_task_still_destroys_the_group() -> None:
    lines: list[LogLine] = []
    task = asyncio.create_task(
        LocalExecutor().run(sh("sleep 100 & echo $!; wait"), lines.append, asyncio.Event())
    )
    deadline = time.monotonic() + 5
    while not lines and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wait_dead(int(lines[0].text))


def test_a_step_spawned_but_not_yet_recorded_is_reaped_by_its_key(tmp_path: Path) -> None:
    """A kill between the spawn and the record: the claimed key finds the orphan."""
    ledger = GroupLedger(tmp_path / "groups")
    key = ledger.claim()
    orphan = subprocess.Popen(
        ["sleep", "60"], env={**os.environ, KEY_VARIABLE: key}, start_new_session=True
    )
    try:
        # The server dies before `record`: its claim stays, with an owner now gone.
        claim = tmp_path / "groups" / f"key-{key}"
        claim.write_text("- 999999999 0\n")
        killed = GroupLedger(tmp_path / "groups").reap()
        assert killed == [orphan.pid]
        assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert not claim.exists()
    finally:
        orphan.kill()
        orphan.wait()


def test_a_live_owners_claim_is_left_alone(tmp_path: Path) -> None:
    ledger = GroupLedger(tmp_path / "groups")
    key = ledger.claim()
    assert GroupLedger(tmp_path / "groups").reap() == []
    assert (tmp_path / "groups" / f"key-{key}").exists()
    ledger.release(key)
    assert not (tmp_path / "groups" / f"key-{key}").exists()
