"""The local executor: a step's command as a host subprocess in its own process group.

The group is the unit we stop and destroy, as a container is for the docker executor:
the command's children and grandchildren are signalled with it. Output is read from
pipes we own rather than asyncio's, so waiting for the exit never waits for a
grandchild that still holds stdout open.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shlex
import shutil
import signal
from contextlib import suppress
from datetime import UTC, datetime

from tidegate.executors.base import (
    CommandSpec,
    LineSink,
    LogLine,
    Outcome,
    Stream,
    consume_lines,
    emit_line,
)
from tidegate.executors.ledger import KEY_VARIABLE, GroupLedger

MAX_LINE = 64 * 1024  # bytes; a longer line is split, so a newline-less flood cannot hang us
_CHUNK = 64 * 1024
_QUEUE = 1024  # lines in flight; a slow on_line then slows the command down (pipe back-pressure)


def shell_argv(script: str, shell: str | None = None) -> list[str]:
    """The argv that runs `script` the way GitHub Actions' default shell does.

    None picks bash (`-eo pipefail`) when the host has it, else POSIX sh (`-e`).
    "bash" and "sh" force one; any other value is split into words and gets the
    script as its last argument (e.g. "python3 -c"). `script` runs as code: it must
    never hold a value from an event (see workflows/shell.py).
    """
    if shell is None:
        shell = "bash" if shutil.which("bash") else "sh"
    if shell == "bash":
        return ["bash", "-eo", "pipefail", "-c", script]
    if shell == "sh":
        return ["sh", "-e", "-c", script]
    return [*shlex.split(shell), script]


class LocalExecutor:
    """Runs commands on the host. The cheap real executor, also used by engine tests."""

    name = "local"

    def __init__(
        self,
        *,
        kill_grace: float = 5.0,
        max_line: int = MAX_LINE,
        drain: float = 2.0,
        ledger: GroupLedger | None = None,
    ) -> None:
        self.kill_grace = kill_grace  # SIGTERM → SIGKILL
        self.max_line = max_line
        # After the group is gone: how long to wait for output still held by a process
        # that left the group (setsid), before we stop reading.
        self.drain = drain
        self._groups: set[int] = set()
        self.ledger = ledger

    async def run(self, spec: CommandSpec, on_line: LineSink, cancel: asyncio.Event) -> Outcome:
        """Start → tail → wait → destroy; see `Executor.run`.

        When the command exits, whatever it left running in its group is killed (the
        step is over). On timeout or cancel the group gets SIGTERM, then SIGKILL once
        the command exits or `kill_grace` passes. A command that cannot be started is
        reported as a shell would: a line on stderr and exit code 127 (or 126).
        """
        if cancel.is_set():
            return Outcome(exit_code=None, cancelled=True)
        pipes: list[tuple[asyncio.StreamReader, asyncio.ReadTransport]] = []
        key = self.ledger.claim() if self.ledger else None
        if key is not None:
            spec = dataclasses.replace(spec, env={**spec.env, KEY_VARIABLE: key})
        try:
            try:
                proc = await _spawn(spec, pipes)
            except (FileNotFoundError, PermissionError) as exc:
                await emit_line(
                    on_line, LogLine(_now(), "stderr", f"tidegate: cannot start: {exc}")
                )
                return Outcome(exit_code=127 if isinstance(exc, FileNotFoundError) else 126)
            self._groups.add(proc.pid)
            if self.ledger:
                self.ledger.record(proc.pid, key)
                key = None
            try:
                return await self._supervise(proc, pipes, spec.timeout, on_line, cancel)
            finally:
                self._groups.discard(proc.pid)
                if self.ledger:
                    self.ledger.forget(proc.pid)
        finally:
            for _, transport in pipes:
                transport.close()
            if self.ledger and key is not None:
                self.ledger.release(key)

    def reap(self) -> list[int]:
        """Kill the groups a crashed predecessor left running (see `ledger`)."""
        return self.ledger.reap() if self.ledger else []

    async def close(self) -> None:
        """Kill every process group still running. Idempotent."""
        for pgid in list(self._groups):
            _signal_group(pgid, signal.SIGKILL)
        self._groups.clear()

    async def _supervise(
        self,
        proc: asyncio.subprocess.Process,
        pipes: list[tuple[asyncio.StreamReader, asyncio.ReadTransport]],
        timeout: float | None,
        on_line: LineSink,
        cancel: asyncio.Event,
    ) -> Outcome:
        pgid = proc.pid  # start_new_session made it a group leader
        queue: asyncio.Queue[LogLine | None] = asyncio.Queue(maxsize=_QUEUE)
        readers = [
            asyncio.create_task(self._read(pipes[0][0], "stdout", queue)),
            asyncio.create_task(self._read(pipes[1][0], "stderr", queue)),
        ]
        consumer = asyncio.create_task(consume_lines(queue, on_line))
        exited = asyncio.create_task(proc.wait())
        cancelled = asyncio.create_task(cancel.wait())
        try:
            stop = await self._wait(timeout, exited, cancelled, consumer)
            if stop is not None:
                await self._stop(pgid, exited)
            _signal_group(pgid, signal.SIGKILL)  # destroy: leftovers of a finished step
            exit_code = await exited
            await self._finish(readers, consumer, queue)
        except BaseException:
            _signal_group(pgid, signal.SIGKILL)
            for task in (*readers, consumer, exited):
                task.cancel()
            raise
        finally:
            cancelled.cancel()
        return Outcome(exit_code=exit_code, timed_out=stop == "timeout", cancelled=stop == "cancel")

    async def _wait(
        self,
        timeout: float | None,
        exited: asyncio.Task[int],
        cancelled: asyncio.Task[bool],
        consumer: asyncio.Task[None],
    ) -> str | None:
        """Wait for the exit; "timeout" or "cancel" when we have to stop it first."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        watch: set[asyncio.Task[int] | asyncio.Task[bool] | asyncio.Task[None]] = {
            exited,
            cancelled,
            consumer,
        }
        while True:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait(watch, timeout=remaining, return_when="FIRST_COMPLETED")
            if exited in done:  # an exit wins over a cancel that arrived with it
                return None
            if cancelled in done:
                return "cancel"
            if consumer in done:
                consumer.result()  # re-raises what on_line raised
                watch.discard(consumer)  # both streams ended before the exit: keep waiting
            elif not done:
                return "timeout"

    async def _stop(self, pgid: int, exited: asyncio.Task[int]) -> None:
        _signal_group(pgid, signal.SIGTERM)
        await asyncio.wait({exited}, timeout=self.kill_grace)

    async def _finish(
        self,
        readers: list[asyncio.Task[None]],
        consumer: asyncio.Task[None],
        queue: asyncio.Queue[LogLine | None],
    ) -> None:
        """Deliver what the pipes still hold, then end the consumer."""
        _, pending = await asyncio.wait(readers, timeout=self.drain)
        for task in pending:
            task.cancel()
        await asyncio.wait(readers)
        if not consumer.done():
            # The consumer may fail while we wait for room in the queue: watch both.
            put = asyncio.create_task(queue.put(None))
            await asyncio.wait({put, consumer}, return_when="FIRST_COMPLETED")
            put.cancel()
        await consumer

    async def _read(
        self, reader: asyncio.StreamReader, stream: Stream, queue: asyncio.Queue[LogLine | None]
    ) -> None:
        buf = bytearray()
        while chunk := await reader.read(_CHUNK):
            buf += chunk
            now = _now()
            for line in split_lines(buf, self.max_line):
                await queue.put(LogLine(now, stream, _decode(line)))
        if buf:  # a last line without a newline
            await queue.put(LogLine(_now(), stream, _decode(bytes(buf))))


def split_lines(buf: bytearray, max_line: int) -> list[bytes]:
    """Take the complete lines out of `buf` (newline and a CR before it dropped).

    A run of more than `max_line` bytes without a newline comes out as a line of its
    own, cut before a UTF-8 sequence rather than inside it. The rest stays in `buf`.
    """
    lines: list[bytes] = []
    start = 0
    while True:
        nl = buf.find(b"\n", start, start + max_line + 1)
        if nl != -1:
            end = nl - 1 if nl > start and buf[nl - 1] == 0x0D else nl
            lines.append(bytes(buf[start:end]))
            start = nl + 1
        elif len(buf) - start > max_line:
            cut = start + max_line
            for _ in range(3):  # step back over continuation bytes (10xxxxxx)
                if cut - 1 > start and buf[cut] & 0xC0 == 0x80:
                    cut -= 1
            lines.append(bytes(buf[start:cut]))
            start = cut
        else:
            break
    del buf[:start]
    return lines


async def _spawn(
    spec: CommandSpec, pipes: list[tuple[asyncio.StreamReader, asyncio.ReadTransport]]
) -> asyncio.subprocess.Process:
    """Start the command, its stdout and stderr on two pipes appended to `pipes`."""
    write_ends: list[int] = []
    try:
        for _ in range(2):
            read_end, write_end = os.pipe()
            write_ends.append(write_end)
            pipes.append(await _open_pipe(read_end))
        return await asyncio.create_subprocess_exec(
            *spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_ends[0],
            stderr=write_ends[1],
            env=spec.env,
            cwd=spec.cwd,
            start_new_session=True,  # its own session and process group: pgid == pid
        )
    finally:
        # The child has its copies; ours must go or the readers never see EOF.
        for fd in write_ends:
            os.close(fd)


async def _open_pipe(fd: int) -> tuple[asyncio.StreamReader, asyncio.ReadTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_CHUNK, loop=loop)
    pipe = os.fdopen(fd, "rb", 0)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe
        )
    except BaseException:
        pipe.close()
        raise
    return reader, transport


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    # Gone already (ProcessLookupError) is the goal; EPERM would mean the id was reused.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _now() -> datetime:
    return datetime.now(UTC)
