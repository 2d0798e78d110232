"""The docker executor: containers through the Docker Engine API, served by Docker or by
Podman (`podman system service`).

Woodpecker's backend lifecycle, in one call: setup (pull the image per policy), start
(create, attach, start), tail (stdout and stderr, line by line as they happen), wait
(the exit code), destroy (remove; idempotent, and done whatever happened). The
translation of a step into container arguments is pure and lives in `container_spec`;
here are the socket layer, `_Engine`, and the async orchestration around it.

Every SDK call blocks, so each runs in a daemon thread of its own: a long call (pull,
the output stream) cannot starve asyncio's small default pool, and a call the engine
leaves hanging holds up neither the event loop nor the process's exit.

Whose error is it? As woodpecker's `IsStepFailure` draws the line:

- the user's: an image that cannot be pulled or is absent under `pull: never`, a create
  or start the engine refuses (bad user, network, command), a value in the step that
  cannot be valid. `run_container` reports these as a failed `Outcome` with the reason
  as a stderr line; services raise `ServiceFailed` (a `StepFailed`).
- ours: the engine cannot be reached, or fails while we attach, wait or remove. These
  raise `ContainerEngineError`, after destroying what was started.

Podman 4.3 (its Docker-compatible API, 1.41) differs from Docker where it matters here:
its error wording (`_gone` accepts both); a failed pull is reported inside the pull's
JSON stream; the compat `wait` answers 0.3-0.5 s late and `logs?follow=1` ends up to
0.25 s after the exit (so we attach before starting and poll inspect once the stream
ends); `logs?tail=N` counts oddly; healthchecks need systemd (see `services`).
"""

from __future__ import annotations

import asyncio
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import docker
import requests
import urllib3
from docker.errors import APIError, DockerException, NotFound

from tidegate.errors import TidegateError
from tidegate.executors.base import LineSink, LogLine, Outcome, Stream, consume_lines, emit_line
from tidegate.executors.container_spec import (
    MANAGED_LABEL,
    ContainerRun,
    ContainerSpecError,
    PullPolicy,
    registry_auth,
    to_container_spec,
)
from tidegate.executors.local import MAX_LINE, split_lines
from tidegate.executors.services import ServiceFailed, ServiceHandle
from tidegate.executors.services import wait_ready as _wait_ready

__all__ = [
    "ContainerEngineError",
    "ContainerRun",
    "DockerExecutor",
    "ServiceFailed",
    "ServiceHandle",
    "to_container_spec",
]

T = TypeVar("T")
StopReason = Literal["timeout", "cancel"] | None

SCOPE_LABEL = "tidegate.scope"
INSPECT_ATTEMPTS = 20
_QUEUE = 1024  # lines in flight between the log thread and on_line


class ContainerEngineError(TidegateError):
    """The container engine failed (our failure, not the step's)."""


class _Refused(Exception):
    """The engine refused the user's container: reported as the step's failure."""

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        self.message = message
        self.exit_code = exit_code
        super().__init__(message)


def _exited(state: Mapping[str, Any]) -> bool:
    # Not `not Running`: Podman shows Running false while "stopping" (the grace period),
    # with ExitCode 0 until it reaches "stopped".
    return state.get("Status") in ("exited", "dead", "stopped")


def _explain(exc: BaseException) -> str:
    if isinstance(exc, APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc) or type(exc).__name__


def _gone(exc: APIError) -> bool:
    """The container is already gone or stopped: the goal of kill and remove."""
    if isinstance(exc, NotFound):
        return True
    text = _explain(exc).lower()
    return any(
        needle in text
        for needle in (
            "no such container",  # Docker and Podman ("…: no such container")
            "is not running",  # Docker kill
            "can only kill running containers",  # Podman kill
            "container state improper",  # Podman, on a stopped container
            "is already in progress",  # both: removal of container … is already in progress
        )
    )


def _start_refused(exc: APIError) -> _Refused:
    """A start the runtime refuses (command not found, unknown user) is the user's,
    reported as a shell would: 127 not found, 126 not executable."""
    text = _explain(exc)
    lowered = text.lower()
    code = None
    if "not found" in lowered or "no such file" in lowered:
        code = 127
    elif "permission denied" in lowered:
        code = 126
    return _Refused(f"cannot start the container: {text}", code)


@contextmanager
def _ours(action: str) -> Iterator[None]:
    """Translate what escapes the SDK into our error; `_Refused` passes through."""
    try:
        yield
    except (DockerException, requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise ContainerEngineError(f"container engine: cannot {action}: {_explain(exc)}") from exc


class _Engine:
    """The socket layer: blocking docker SDK calls, each one translated once.

    Returns plain data; raises `_Refused` for the user's failures and
    `ContainerEngineError` for ours.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.api = client.api

    @classmethod
    def connect(cls, base_url: str, *, timeout: float, pool: int) -> _Engine:
        with _ours(f"connect to {base_url}"):
            client = docker.DockerClient(
                base_url=base_url, version="auto", timeout=timeout, max_pool_size=pool
            )
        return cls(client)

    def image_present(self, image: str) -> bool:
        with _ours(f"inspect image {image}"):
            try:
                self.api.inspect_image(image)
            except NotFound:  # ImageNotFound is a NotFound
                return False
        return True

    def pull(self, image: str, auth: dict[str, str] | None) -> None:
        # Both engines answer 200 and report a failed pull inside the JSON stream;
        # an HTTP error here is a reference the engine rejects outright. The user's.
        with _ours(f"pull {image}"):
            try:
                for event in self.api.pull(image, stream=True, decode=True, auth_config=auth):
                    error = event.get("error") or (event.get("errorDetail") or {}).get("message")
                    if error:
                        raise _Refused(f"cannot pull image {image}: {error}")
            except APIError as exc:
                raise _Refused(f"cannot pull image {image}: {_explain(exc)}") from exc

    def create(self, spec: dict[str, Any]) -> str:
        # A create the engine refuses (bad network, image gone) is the user's.
        with _ours("create a container"):
            try:
                return str(self.client.containers.create(**spec).id)
            except APIError as exc:
                raise _Refused(f"cannot create the container: {_explain(exc)}") from exc

    def start(self, container_id: str) -> None:
        with _ours("start the container"):
            try:
                self.api.start(container_id)
            except APIError as exc:
                raise _start_refused(exc) from exc

    def attach(self, container_id: str) -> Any:
        """The container's stdout and stderr, as (stdout, stderr) chunks, one of them None.

        Attached before the start, so nothing is missed; the stream ends as the
        container exits. (Podman's `logs?follow=1` ends only on its next 250 ms poll,
        and the SDK's `logs()` cannot tell stdout from stderr.) `close()` on the result
        shuts the socket down, from any thread. Podman prepares the container (runc
        create) on attach, so a bad command or user is refused here already.
        """
        with _ours("attach to the container"):
            try:
                return self.api.attach(
                    container_id, stdout=True, stderr=True, stream=True, logs=False, demux=True
                )
            except APIError as exc:
                raise _start_refused(exc) from exc

    def wait_exit(
        self, container_id: str, ended: threading.Event, quit: threading.Event
    ) -> tuple[int, bool]:
        """The exit code (and whether the OOM killer struck) once the container exited.

        Polls inspect: fast once the output stream has ended (it ends as the container
        exits), slowly before. Podman's compat `wait` answers 0.3-0.5 s after the exit,
        which would double the cost of a short step.
        """
        slow, fast = 0.05, 0.005
        while not quit.is_set():
            state = self.inspect(container_id).get("State") or {}
            if _exited(state):
                return int(state.get("ExitCode", -1)), bool(state.get("OOMKilled"))
            if ended.is_set():
                time.sleep(fast)
                fast = min(fast * 2, 0.5)
            else:
                ended.wait(slow)
                slow = min(slow * 2, 1.0)
        return -1, False

    def stop(self, container_id: str, grace: float) -> None:
        """SIGTERM (or the image's stop signal), then SIGKILL after `grace` seconds."""
        with _ours("stop the container"):
            try:
                self.api.stop(container_id, timeout=max(0, math.ceil(grace)))
            except APIError as exc:
                if not _gone(exc):
                    raise

    def kill(self, container_id: str) -> None:
        with _ours("kill the container"):
            try:
                self.api.kill(container_id)
            except APIError as exc:
                if not _gone(exc):
                    raise

    def remove(self, container_id: str, *, kill: bool) -> None:
        """Remove the container and its anonymous volumes. Gone already is fine.

        `kill` first when it may still run: a forced remove stops it gracefully, which
        waits out its stop timeout (10 s by default) if the command ignores SIGTERM.
        """
        if kill:
            self.kill(container_id)
        with _ours("remove the container"):
            try:
                self.api.remove_container(container_id, force=True, v=True)
            except APIError as exc:
                if not _gone(exc):
                    raise

    def inspect(self, container_id: str) -> dict[str, Any]:
        with _ours("inspect the container"):
            for attempt in range(INSPECT_ATTEMPTS):
                try:
                    return dict(self.api.inspect_container(container_id))
                except APIError as exc:
                    # Podman answers 500 "read /proc/PID/cgroup: no such process" when
                    # asked in the instant its container's process is exiting.
                    if "no such process" not in str(exc) or attempt == INSPECT_ATTEMPTS - 1:
                        raise
                    time.sleep(0.05)
            raise AssertionError("unreachable")  # pragma: no cover

    def last_lines(self, container_id: str, count: int) -> list[str]:
        # stdout and stderr merged: enough for an error message. Podman's `tail` counts
        # oddly across the two streams, so ask for more and keep the end.
        with _ours("read the container's output"):
            output = self.api.logs(container_id, stdout=True, stderr=True, tail=20 * count)
        return [_decode(line) for line in bytes(output).splitlines()[-count:]]

    def exec(self, container_id: str, argv: list[str]) -> tuple[int, str]:
        with _ours("run a command in the container"):
            try:
                created = self.api.exec_create(container_id, argv, stdout=True, stderr=True)
                output = self.api.exec_start(created["Id"])
                code = self.api.exec_inspect(created["Id"]).get("ExitCode")
            except APIError as exc:
                return 126, _explain(exc)
        text = output.decode("utf-8", errors="replace") if isinstance(output, bytes) else ""
        return (code if isinstance(code, int) else 126), text

    def managed(self) -> list[tuple[str, dict[str, str]]]:
        """(id, labels) of every container carrying `tidegate.managed=1`, in any state."""
        with _ours("list containers"):
            found = self.api.containers(all=True, filters={"label": f"{MANAGED_LABEL}=1"})
        return [(str(c["Id"]), dict(c.get("Labels") or {})) for c in found]

    def close(self) -> None:
        with suppress(Exception):
            self.client.close()


class DockerExecutor:
    """Runs containers through the Docker Engine API at `base_url` (Docker or Podman).

    `default_network` applies when a run names none; `kill_grace` is the time between
    the stop signal and SIGKILL on timeout or cancel; `drain` how long to wait for the
    output stream once the container has exited. `scope` names this installation when
    several share one engine: its containers carry `tidegate.scope=<scope>` and `reap`
    touches only containers of its own scope (None: only containers without one).
    Nothing connects until first use.
    """

    name = "docker"

    def __init__(
        self,
        base_url: str,
        *,
        default_network: str = "none",
        kill_grace: float = 5.0,
        drain: float = 2.0,
        max_line: int = MAX_LINE,
        api_timeout: float = 60.0,
        max_pool_size: int = 64,
        scope: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.scope = scope
        self.default_network = default_network
        self.kill_grace = kill_grace
        self.drain = drain
        self.max_line = max_line
        self.api_timeout = api_timeout
        self.max_pool_size = max_pool_size
        self._engine: _Engine | None = None
        self._connecting: asyncio.Lock | None = None
        self._live: set[str] = set()  # containers (steps and services) not yet removed
        self._services: set[str] = set()  # those of them that are services

    # -- steps -------------------------------------------------------------------------

    async def run_container(
        self,
        run: ContainerRun,
        on_line: LineSink,
        cancel: asyncio.Event,
        auth: Mapping[str, str] | None = None,
    ) -> Outcome:
        """Pull → create → start → tail → wait → remove, in one call.

        `on_line` gets every output line in arrival order, one call at a time. When
        `run.timeout` passes (counted from this call, pull included) or `cancel` is
        set, the container is stopped (`kill_grace`, then SIGKILL) and the outcome says
        which. The container is removed whatever happens. The user's failures (image,
        create, start) come back as an outcome with the reason on stderr; only our own
        failures raise (`ContainerEngineError`), or what `on_line` raised.
        """
        if cancel.is_set():
            return Outcome(exit_code=None, cancelled=True)
        loop = asyncio.get_running_loop()
        deadline = None if run.timeout is None else loop.time() + run.timeout
        try:
            # The user's: a value in the step (after interpolation) that cannot be valid.
            run = self._own(run, {})
            spec = to_container_spec(run, default_network=self.default_network)
            policy = run.pull_policy
            auth_config = registry_auth(auth) if auth else None
        except ContainerSpecError as exc:
            await emit_line(on_line, _line("stderr", f"tidegate: {exc.message}"))
            return Outcome(exit_code=None)
        engine = await self._connect()
        cancelled = asyncio.ensure_future(cancel.wait())
        try:
            setup = _in_thread(lambda: self._setup(engine, run.image, policy, auth_config))
            stop = await _watch(deadline, setup, cancelled)
            if stop is not None:
                what = "timed out" if stop == "timeout" else "cancelled"
                await emit_line(
                    on_line, _line("stderr", f"tidegate: {what} while pulling {run.image}")
                )
                return Outcome(
                    exit_code=None, timed_out=stop == "timeout", cancelled=stop == "cancel"
                )
            try:
                setup.result()
                container_id = await self._create(engine, spec)
            except _Refused as exc:
                await emit_line(on_line, _line("stderr", f"tidegate: {exc.message}"))
                return Outcome(exit_code=None)
            exited = False
            try:
                try:
                    stream = await self._start(engine, container_id)
                except _Refused as exc:
                    await emit_line(on_line, _line("stderr", f"tidegate: {exc.message}"))
                    return Outcome(exit_code=exc.exit_code)
                outcome = await self._supervise(
                    engine, container_id, stream, deadline, on_line, cancelled, run.memory
                )
                exited = True
                return outcome
            finally:
                await self._destroy(engine, container_id, running=not exited)
        finally:
            cancelled.cancel()

    def _setup(
        self, engine: _Engine, image: str, policy: PullPolicy, auth: dict[str, str] | None
    ) -> None:
        """Make the image present per policy; `_Refused` when it cannot be (the user's)."""
        if policy != "always" and engine.image_present(image):
            return
        if policy == "never":
            raise _Refused(f"image {image} is not present and the pull policy is 'never'")
        engine.pull(image, auth)

    async def _create(self, engine: _Engine, spec: dict[str, Any]) -> str:
        """Create; if we are cancelled meanwhile, remove what the create made."""
        creating = _in_thread(lambda: engine.create(spec))
        try:
            container_id = await asyncio.shield(creating)
        except asyncio.CancelledError:
            await asyncio.wait({creating})
            if not creating.cancelled() and creating.exception() is None:
                await self._destroy(engine, creating.result())
            raise
        self._live.add(container_id)
        return container_id

    async def _start(self, engine: _Engine, container_id: str) -> Any:
        """Attach, then start: the stream of the container's output from its first byte."""
        stream = await _call(lambda: engine.attach(container_id))
        try:
            await _call(lambda: engine.start(container_id))
        except BaseException:
            with suppress(Exception):
                stream.close()
            raise
        return stream

    async def _supervise(
        self,
        engine: _Engine,
        container_id: str,
        stream: Any,
        deadline: float | None,
        on_line: LineSink,
        cancelled: asyncio.Future[Any],
        memory: int | str | None,
    ) -> Outcome:
        queue: asyncio.Queue[LogLine | None] = asyncio.Queue(maxsize=_QUEUE)
        tail = _Tail(stream, queue, self.max_line)
        consumer = asyncio.create_task(consume_lines(queue, on_line))
        exited = _in_thread(lambda: engine.wait_exit(container_id, tail.ended, tail.abandoned))
        try:
            stop = await _watch(deadline, exited, cancelled, consumer)
            if stop is not None:
                await self._stop(engine, container_id, exited)
            exit_code, oom_killed = await exited
            await self._finish(tail, consumer, queue)
        except BaseException:
            tail.abandon()
            consumer.cancel()
            raise
        if oom_killed and stop is None:
            # The user's: the step outgrew its memory limit. Say so; 137 alone is cryptic.
            message = f"tidegate: the container ran out of memory (limit {memory})"
            await emit_line(on_line, _line("stderr", message))
        return Outcome(exit_code=exit_code, timed_out=stop == "timeout", cancelled=stop == "cancel")

    async def _stop(
        self, engine: _Engine, container_id: str, exited: asyncio.Future[tuple[int, bool]]
    ) -> None:
        await _call(lambda: engine.stop(container_id, self.kill_grace))
        await asyncio.wait({exited}, timeout=self.kill_grace)
        if not exited.done():
            await _call(lambda: engine.kill(container_id))

    async def _finish(
        self, tail: _Tail, consumer: asyncio.Task[None], queue: asyncio.Queue[LogLine | None]
    ) -> None:
        """Deliver what the log stream still holds, then end the consumer."""
        watch = {tail.done, consumer}
        done, _ = await asyncio.wait(watch, timeout=self.drain, return_when="FIRST_COMPLETED")
        if consumer in done:
            consumer.result()  # re-raises what on_line raised
        if tail.done not in done:
            tail.abandon()  # the engine kept the stream open after the exit: stop reading
        else:
            tail.done.result()  # re-raises a broken stream (ours)
        if not consumer.done():
            put = asyncio.ensure_future(queue.put(None))
            await asyncio.wait({put, consumer}, return_when="FIRST_COMPLETED")
            put.cancel()
        await consumer

    async def _destroy(self, engine: _Engine, container_id: str, *, running: bool = True) -> None:
        """Remove the container (killing it first if it may run). Idempotent; survives a
        cancel of the caller."""
        removing = _in_thread(lambda: engine.remove(container_id, kill=running))
        try:
            await asyncio.shield(removing)
        except asyncio.CancelledError:
            await asyncio.wait({removing})
            raise
        finally:
            if removing.done() and not removing.cancelled() and removing.exception() is None:
                self._live.discard(container_id)

    # -- services ----------------------------------------------------------------------

    async def start_service(
        self,
        name: str,
        run: ContainerRun,
        labels: Mapping[str, str] | None = None,
        *,
        auth: Mapping[str, str] | None = None,
    ) -> ServiceHandle:
        """Pull per policy, create and start the service `name`; does not wait for it.

        Raises ServiceFailed (the user's) when the image or the container is refused.
        """
        run = self._own(run, {**(labels or {}), "tidegate.service": name})
        try:
            spec = to_container_spec(run, default_network=self.default_network)
            policy = run.pull_policy
            auth_config = registry_auth(auth) if auth else None
        except ContainerSpecError as exc:
            raise ServiceFailed(f"service {name!r}: {exc.message}") from exc
        engine = await self._connect()
        try:
            await _call(lambda: self._setup(engine, run.image, policy, auth_config))
            container_id = await self._create(engine, spec)
        except _Refused as exc:
            raise ServiceFailed(f"service {name!r}: {exc.message}") from exc
        network = str(spec.get("network_mode") or spec.get("network"))
        handle = ServiceHandle(name, container_id, run.image, network, spec["labels"])
        self._services.add(container_id)
        try:
            await _call(lambda: engine.start(container_id))
        except BaseException as exc:
            await self.stop_service(handle)
            if isinstance(exc, _Refused):
                raise ServiceFailed(f"service {name!r}: {exc.message}") from exc
            raise
        return handle

    async def wait_ready(
        self,
        handle: ServiceHandle,
        *,
        tcp_port: int | None = None,
        command: list[str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        """Return once the service is ready (image HEALTHCHECK, else `tcp_port`, else
        `command`, else running); ServiceFailed naming what was waited for otherwise."""
        await _wait_ready(
            _Probe(await self._connect()),
            handle,
            tcp_port=tcp_port,
            command=command,
            timeout=timeout,
        )

    async def stop_service(self, handle: ServiceHandle) -> None:
        """Remove the service container. Idempotent."""
        await self._destroy(await self._connect(), handle.container_id)
        self._services.discard(handle.container_id)

    # -- housekeeping ------------------------------------------------------------------

    async def reap(self, keep: Callable[[dict[str, str]], bool]) -> list[str]:
        """Remove every `tidegate.managed=1` container of our scope that `keep` rejects.

        For after a crash: the engine keeps the containers of runs still in flight.
        Containers this executor is running are always kept. Returns the removed ids.
        """
        engine = await self._connect()
        removed: list[str] = []
        for container_id, labels in await _call(engine.managed):
            if labels.get(SCOPE_LABEL) != self.scope or container_id in self._live:
                continue
            if keep(labels):
                continue
            await self._destroy(engine, container_id)
            removed.append(container_id)
        return removed

    async def close(self, *, keep_services: bool = False) -> None:
        """Remove every container still running for us, then disconnect. Idempotent.

        `keep_services`: a server stopping gracefully leaves the services of runs in
        flight, which resume after the restart with their steps (the reap at the next
        launch removes those of runs that have ended meanwhile).
        """
        engine = self._engine
        if engine is None:
            return
        try:
            for container_id in list(self._live):
                if keep_services and container_id in self._services:
                    continue
                with suppress(ContainerEngineError):
                    await self._destroy(engine, container_id)
        finally:
            self._engine = None
            await _call(engine.close)

    def _own(self, run: ContainerRun, labels: Mapping[str, str]) -> ContainerRun:
        """`run` with our labels and a name: named before the create, so a create cut
        short by a cancel can still be found and removed."""
        labels = {**run.labels, **labels}
        if self.scope is not None:
            labels[SCOPE_LABEL] = self.scope
        return replace(run, labels=labels, name=run.name or f"tidegate-{secrets.token_hex(8)}")

    async def _connect(self) -> _Engine:
        if self._engine is None:
            if self._connecting is None:
                self._connecting = asyncio.Lock()
            async with self._connecting:
                if self._engine is None:
                    self._engine = await _call(
                        lambda: _Engine.connect(
                            self.base_url, timeout=self.api_timeout, pool=self.max_pool_size
                        )
                    )
        return self._engine


class _Probe:
    """The `services.ServiceEngine` seam over the socket layer."""

    def __init__(self, engine: _Engine) -> None:
        self.engine = engine

    async def inspect(self, container_id: str) -> dict[str, Any]:
        try:
            return await _call(lambda: self.engine.inspect(container_id))
        except ContainerEngineError as exc:
            if isinstance(exc.__cause__, NotFound):  # removed under us: it exited
                return {"State": {"Running": False, "ExitCode": None}}
            raise

    async def exec(self, container_id: str, argv: list[str]) -> tuple[int, str]:
        return await _call(lambda: self.engine.exec(container_id, argv))

    async def last_lines(self, container_id: str, count: int) -> list[str]:
        with suppress(ContainerEngineError):
            return await _call(lambda: self.engine.last_lines(container_id, count))
        return []


class _Tail:
    """The attached output, pumped by a thread of its own into an asyncio queue.

    Lines are stamped when their chunk arrives. A full queue holds the thread back, and
    so, like a pipe, the container's output (as `docker run` attached would).
    """

    def __init__(self, stream: Any, queue: asyncio.Queue[LogLine | None], max_line: int) -> None:
        self._stream = stream
        self._loop = asyncio.get_running_loop()
        self._queue = queue
        self._max_line = max_line
        self.ended = threading.Event()  # the stream is over: the container is exiting
        self.abandoned = threading.Event()
        self.done = _in_thread(self._pump)

    def abandon(self) -> None:
        self.abandoned.set()
        self._close()

    def _pump(self) -> None:
        buffers: dict[Stream, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        try:
            with _ours("read the container's output"):
                for out, err in self._stream:
                    now = _now()
                    kind: Stream = "stdout" if out is not None else "stderr"
                    buffers[kind] += out if out is not None else err
                    for line in split_lines(buffers[kind], self._max_line):
                        if not self._put(LogLine(now, kind, _decode(line))):
                            return
            for kind, buffer in buffers.items():  # last lines without a newline
                if buffer and not self._put(LogLine(_now(), kind, _decode(bytes(buffer)))):
                    return
        except Exception:
            if self.abandoned.is_set():
                return  # shut down under us on purpose
            raise
        finally:
            self.ended.set()
            self._close()

    def _close(self) -> None:
        with suppress(Exception):
            self._stream.close()

    def _put(self, line: LogLine) -> bool:
        """Hand `line` to the loop, waiting for room; False once abandoned."""
        if self.abandoned.is_set():
            return False
        try:
            put = asyncio.run_coroutine_threadsafe(self._queue.put(line), self._loop)
        except RuntimeError:  # the loop is closed
            return False
        while True:
            try:
                put.result(timeout=0.25)
                return True
            except FutureTimeout:
                if self.abandoned.is_set():
                    put.cancel()
                    return False


def _in_thread(fn: Callable[[], T]) -> asyncio.Future[T]:
    """Run `fn` in a daemon thread of its own; its result as a future of the running loop.

    Cancelling the future abandons the call (it runs on, its result is dropped).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    future.add_done_callback(_retrieve)

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    def body() -> None:
        try:
            result, error = fn(), None
        except Exception as exc:
            result, error = None, exc
        with suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=body, name="tidegate-docker", daemon=True).start()
    return future


async def _call(fn: Callable[[], T]) -> T:
    return await _in_thread(fn)


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Mark an abandoned call's exception as seen (no "exception was never retrieved").
    if not future.cancelled():
        future.exception()


async def _watch(
    deadline: float | None,
    work: asyncio.Future[Any],
    cancelled: asyncio.Future[Any],
    consumer: asyncio.Task[None] | None = None,
) -> StopReason:
    """Wait for `work` (a pull, the exit); "timeout" or "cancel" when one comes first.

    `work` is left running then. A failing `consumer` (on_line) raises here.
    """
    loop = asyncio.get_running_loop()
    watch: set[asyncio.Future[Any]] = {work, cancelled} | ({consumer} if consumer else set())
    while True:
        remaining = None if deadline is None else max(0.0, deadline - loop.time())
        done, _ = await asyncio.wait(watch, timeout=remaining, return_when="FIRST_COMPLETED")
        if work in done:  # an exit wins over a cancel that arrived with it
            return None
        if cancelled in done:
            return "cancel"
        if consumer is not None and consumer in done:
            consumer.result()  # re-raises what on_line raised
            watch.discard(consumer)
        elif not done:
            return "timeout"


def _line(stream: Stream, text: str) -> LogLine:
    return LogLine(_now(), stream, text)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _now() -> datetime:
    return datetime.now(UTC)
