"""The local executor: a step's command as a host subprocess in its own process group.

The group is the unit we stop and destroy, as a container is for the docker executor:
the command's children and grandchildren are signalled with it. Output is read from
pipes we own rather than asyncio's, so waiting for the exit never waits for a
grandchild that still holds stdout open.

It runs host commands only: containers and services are refused (`Unsupported`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shlex
import shutil
import signal
from collections.abc import Mapping
from contextlib import suppress
from functools import lru_cache

from tidegate.executors import child
from tidegate.executors.base import (
    CommandSpec,
    ExecutorSettings,
    Keep,
    LineSink,
    LogLine,
    Outcome,
    ServiceFailed,
    ServiceHandle,
    Stream,
    Unsupported,
)
from tidegate.executors.child import Child
from tidegate.executors.container_spec import ContainerRun
from tidegate.executors.ledger import KEY_VARIABLE, GroupLedger
from tidegate.executors.lines import (
    MAX_LINE,
    consume_lines,
    decode,
    emit_line,
    end_consumer,
    line,
    now,
    split_lines,
)
from tidegate.executors.supervise import deadline_in, supervise

_CHUNK = 64 * 1024
_DRAIN_ROUNDS = 30
_QUEUE = 1024  # lines in flight; a slow on_line then slows the command down (pipe back-pressure)
_NO_CONTAINERS = (
    "the local executor runs host commands, not containers: set TIDEGATE_CONTAINER_EXECUTOR "
    "to an executor that runs them (docker)"
)


def shell_argv(script: str, shell: str | None = None) -> list[str]:
    """The argv that runs `script` the way GitHub Actions' default shell does.

    None picks bash (`-eo pipefail`) when the host has it, else POSIX sh (`-e`).
    "bash" and "sh" force one; any other value is split into words and gets the
    script as its last argument (e.g. "python3 -c"). `script` runs as code: it must
    never hold a value from an event (see workflows/shell.py).
    """
    if shell is None:
        shell = _default_shell()
    if shell == "bash":
        return ["bash", "-eo", "pipefail", "-c", script]
    if shell == "sh":
        return ["sh", "-e", "-c", script]
    return [*shlex.split(shell), script]


@lru_cache(maxsize=1)
def _default_shell() -> str:
    # Looked up once: a PATH search is a dozen stat calls, and every step asks.
    return "bash" if shutil.which("bash") else "sh"


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

    @classmethod
    def from_settings(cls, settings: ExecutorSettings) -> LocalExecutor:
        """Always there: `run` steps are host commands."""
        return cls(
            kill_grace=settings.kill_grace, ledger=GroupLedger(settings.data_dir / "process-groups")
        )

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
                await emit_line(on_line, line("stderr", f"tidegate: cannot start: {exc}"))
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

    async def run_container(
        self,
        run: ContainerRun,
        on_line: LineSink,
        cancel: asyncio.Event,
        auth: Mapping[str, str] | None = None,
    ) -> Outcome:
        raise Unsupported(_NO_CONTAINERS)

    async def start_service(
        self,
        name: str,
        run: ContainerRun,
        labels: Mapping[str, str] | None = None,
        *,
        auth: Mapping[str, str] | None = None,
    ) -> ServiceHandle:
        raise ServiceFailed(f"service {name!r}: {_NO_CONTAINERS}")

    async def wait_ready(
        self,
        handle: ServiceHandle,
        *,
        tcp_port: int | None = None,
        command: list[str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        raise ServiceFailed(f"service {handle.name!r}: {_NO_CONTAINERS}")

    async def stop_service(self, handle: ServiceHandle) -> None:
        """Nothing to stop: this executor never starts a service."""

    async def reap(self, keep: Keep) -> list[str]:
        """Kill the groups a crashed predecessor left running (see `ledger`).

        `keep` is not asked: a group has no labels, and every one of them is a step's,
        which runs again from the start after the crash.
        """
        if self.ledger is None:
            return []
        return [str(pgid) for pgid in await asyncio.to_thread(self.ledger.reap)]

    async def close(self, *, keep_services: bool = False) -> None:
        """Kill every process group still running. Idempotent."""
        for pgid in list(self._groups):
            _signal_group(pgid, signal.SIGKILL)
        self._groups.clear()

    async def _supervise(
        self,
        proc: Child,
        pipes: list[tuple[asyncio.StreamReader, asyncio.ReadTransport]],
        timeout: float | None,
        on_line: LineSink,
        cancel: asyncio.Event,
    ) -> Outcome:
        pgid = proc.pid  # start_new_session made it a group leader
        queue: asyncio.Queue[LogLine | None] = asyncio.Queue(maxsize=_QUEUE)
        read = [0]  # lines taken from the pipes so far
        readers = [
            asyncio.create_task(self._read(pipes[0][0], "stdout", queue, read)),
            asyncio.create_task(self._read(pipes[1][0], "stderr", queue, read)),
        ]
        consumer = asyncio.create_task(consume_lines(queue, on_line))
        exited = asyncio.create_task(proc.wait())
        cancelled = asyncio.create_task(cancel.wait())

        async def terminate() -> None:
            _signal_group(pgid, signal.SIGTERM)

        async def kill() -> None:
            _signal_group(pgid, signal.SIGKILL)

        try:
            stop = await supervise(
                exited,
                deadline=deadline_in(timeout),
                cancelled=cancelled,
                consumer=consumer,
                terminate=terminate,
                kill=kill,
                grace=self.kill_grace,
            )
            await kill()  # destroy: leftovers of a finished step
            exit_code = await exited
            await self._finish(readers, consumer, queue, read)
        except BaseException:
            _signal_group(pgid, signal.SIGKILL)
            for task in (*readers, consumer, exited):
                task.cancel()
            raise
        finally:
            cancelled.cancel()
        return Outcome.stopped(exit_code, stop)

    async def _finish(
        self,
        readers: list[asyncio.Task[None]],
        consumer: asyncio.Task[None],
        queue: asyncio.Queue[LogLine | None],
        read: list[int],
    ) -> None:
        """Deliver what the pipes still hold, then end the consumer.

        With the group gone, a pipe still open is held by a process that left it
        (setsid): we stop reading after `drain` seconds without a line. While lines
        keep coming, the backlog of a slow sink (12,000 lines under load took longer
        than 2 s), we read on, up to `_DRAIN_ROUNDS` times `drain`.
        """
        pending: set[asyncio.Task[None]] = set(readers)
        for _ in range(_DRAIN_ROUNDS):
            seen = read[0]
            _, pending = await asyncio.wait(pending, timeout=self.drain)
            if not pending or read[0] == seen:
                break
        for task in pending:
            task.cancel()
        await asyncio.wait(readers)
        await end_consumer(queue, consumer)

    async def _read(
        self,
        reader: asyncio.StreamReader,
        stream: Stream,
        queue: asyncio.Queue[LogLine | None],
        read: list[int],
    ) -> None:
        buf = bytearray()
        while chunk := await reader.read(_CHUNK):
            buf += chunk
            stamp = now()
            for text in split_lines(buf, self.max_line):
                await queue.put(LogLine(stamp, stream, decode(text)))
                read[0] += 1
        if buf:  # a last line without a newline
            await queue.put(line(stream, decode(bytes(buf))))


async def _spawn(
    spec: CommandSpec, pipes: list[tuple[asyncio.StreamReader, asyncio.ReadTransport]]
) -> Child:
    """Start the command, its stdout and stderr on two pipes appended to `pipes`."""
    write_ends: list[int] = []
    try:
        for _ in range(2):
            read_end, write_end = os.pipe()
            write_ends.append(write_end)
            pipes.append(await _open_pipe(read_end))
        return child.start(
            spec.argv, env=spec.env, cwd=spec.cwd, stdout=write_ends[0], stderr=write_ends[1]
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
