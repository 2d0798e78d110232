"""The docker executor: step containers and services, orchestrated over the socket layer."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import replace
from typing import Any

from tidegate.executors.base import (
    CommandSpec,
    ExecutorSettings,
    Keep,
    LineSink,
    LogLine,
    Outcome,
    ServiceFailed,
    ServiceHandle,
    Unsupported,
)
from tidegate.executors.container_spec import (
    ContainerRun,
    ContainerSpecError,
    registry_auth,
    to_container_spec,
)
from tidegate.executors.docker.bridge import call, in_thread
from tidegate.executors.docker.engine import ContainerEngineError, Engine, Refused
from tidegate.executors.docker.readiness import Probe
from tidegate.executors.docker.readiness import wait_ready as _wait_ready
from tidegate.executors.docker.tail import Tail
from tidegate.executors.lines import MAX_LINE, consume_lines, emit_line, end_consumer, line
from tidegate.executors.supervise import deadline_in, supervise, watch

SCOPE_LABEL = "tidegate.scope"
_QUEUE = 1024  # lines in flight between the log thread and on_line


def installation_scope(settings: ExecutorSettings) -> str:
    """Names this installation's containers, so a reap never touches another's.

    Processes sharing one database are one installation; the name is derived from
    the database (without its credentials) so they all agree on it.
    """
    database = settings.db_url.split("@", 1)[-1]
    return hashlib.sha256(database.encode()).hexdigest()[:12]


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
        self._engine: Engine | None = None
        self._connecting: asyncio.Lock | None = None
        self._live: set[str] = set()  # containers (steps and services) not yet removed
        self._services: set[str] = set()  # those of them that are services

    @classmethod
    def from_settings(cls, settings: ExecutorSettings) -> DockerExecutor | None:
        """The engine at `TIDEGATE_DOCKER_HOST`; None when no socket is configured."""
        if not settings.docker_host:
            return None
        return cls(
            settings.docker_host,
            default_network=settings.default_network,
            kill_grace=settings.kill_grace,
            scope=installation_scope(settings),
        )

    # -- steps -------------------------------------------------------------------------

    async def run(self, spec: CommandSpec, on_line: LineSink, cancel: asyncio.Event) -> Outcome:
        raise Unsupported(
            "the docker executor runs containers, not host commands: "
            "a `run` step runs on the host (the local executor)"
        )

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
        deadline = deadline_in(run.timeout)
        try:
            # The user's: a value in the step (after interpolation) that cannot be valid.
            run = self._own(run, {})
            spec = to_container_spec(run, default_network=self.default_network)
            policy = run.pull_policy
            auth_config = registry_auth(auth) if auth else None
        except ContainerSpecError as exc:
            return await _refused(on_line, exc.message)
        engine = await self._connect()
        cancelled = asyncio.ensure_future(cancel.wait())
        try:
            setup = in_thread(lambda: engine.setup(run.image, policy, auth_config))
            stop = await watch(deadline, setup, cancelled)
            if stop is not None:
                what = "timed out" if stop == "timeout" else "cancelled"
                await _refused(on_line, f"{what} while pulling {run.image}")
                return Outcome.stopped(None, stop)
            try:
                setup.result()
                container_id = await self._create(engine, spec)
            except Refused as exc:
                return await _refused(on_line, exc.message)
            exited = False
            try:
                try:
                    stream = await self._start(engine, container_id)
                except Refused as exc:
                    return await _refused(on_line, exc.message, exc.exit_code)
                outcome = await self._supervise(
                    engine, container_id, stream, deadline, on_line, cancelled, run.memory
                )
                exited = True
                return outcome
            finally:
                await self._destroy(engine, container_id, running=not exited)
        finally:
            cancelled.cancel()

    async def _create(self, engine: Engine, spec: dict[str, Any]) -> str:
        """Create; if we are cancelled meanwhile, remove what the create made."""
        creating = in_thread(lambda: engine.create(spec))
        try:
            container_id = await asyncio.shield(creating)
        except asyncio.CancelledError:
            await asyncio.wait({creating})
            if not creating.cancelled() and creating.exception() is None:
                await self._destroy(engine, creating.result())
            raise
        self._live.add(container_id)
        return container_id

    async def _start(self, engine: Engine, container_id: str) -> Any:
        """Attach, then start: the stream of the container's output from its first byte."""
        stream = await call(lambda: engine.attach(container_id))
        try:
            await call(lambda: engine.start(container_id))
        except BaseException:
            with suppress(Exception):
                stream.close()
            raise
        return stream

    async def _supervise(
        self,
        engine: Engine,
        container_id: str,
        stream: Any,
        deadline: float | None,
        on_line: LineSink,
        cancelled: asyncio.Future[Any],
        memory: int | str | None,
    ) -> Outcome:
        queue: asyncio.Queue[LogLine | None] = asyncio.Queue(maxsize=_QUEUE)
        tail = Tail(stream, queue, self.max_line)
        consumer = asyncio.create_task(consume_lines(queue, on_line))
        exited = in_thread(lambda: engine.wait_exit(container_id, tail.ended, tail.abandoned))
        try:
            stop = await supervise(
                exited,
                deadline=deadline,
                cancelled=cancelled,
                consumer=consumer,
                # The engine's stop sends SIGTERM and kills after the grace itself.
                terminate=lambda: call(lambda: engine.stop(container_id, self.kill_grace)),
                kill=lambda: call(lambda: engine.kill(container_id)),
                grace=self.kill_grace,
            )
            exit_code, oom_killed = await exited
            await self._finish(tail, consumer, queue)
        except BaseException:
            tail.abandon()
            consumer.cancel()
            raise
        if oom_killed and stop is None:
            # The user's: the step outgrew its memory limit. Say so; 137 alone is cryptic.
            message = f"tidegate: the container ran out of memory (limit {memory})"
            await emit_line(on_line, line("stderr", message))
        return Outcome.stopped(exit_code, stop)

    async def _finish(
        self, tail: Tail, consumer: asyncio.Task[None], queue: asyncio.Queue[LogLine | None]
    ) -> None:
        """Deliver what the log stream still holds, then end the consumer."""
        watched = {tail.done, consumer}
        done, _ = await asyncio.wait(watched, timeout=self.drain, return_when="FIRST_COMPLETED")
        if consumer in done:
            consumer.result()  # re-raises what on_line raised
        if tail.done not in done:
            tail.abandon()  # the engine kept the stream open after the exit: stop reading
        else:
            tail.done.result()  # re-raises a broken stream (ours)
        await end_consumer(queue, consumer)

    async def _destroy(self, engine: Engine, container_id: str, *, running: bool = True) -> None:
        """Remove the container (killing it first if it may run). Idempotent; survives a
        cancel of the caller."""
        removing = in_thread(lambda: engine.remove(container_id, kill=running))
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
            await call(lambda: engine.setup(run.image, policy, auth_config))
            container_id = await self._create(engine, spec)
        except Refused as exc:
            raise ServiceFailed(f"service {name!r}: {exc.message}") from exc
        network = str(spec.get("network_mode") or spec.get("network"))
        handle = ServiceHandle(name, container_id, run.image, network, spec["labels"])
        self._services.add(container_id)
        try:
            await call(lambda: engine.start(container_id))
        except BaseException as exc:
            await self.stop_service(handle)
            if isinstance(exc, Refused):
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
            Probe(await self._connect()),
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

    async def reap(self, keep: Keep) -> list[str]:
        """Remove every `tidegate.managed=1` container of our scope that `keep` rejects.

        For after a crash: the engine keeps the containers of runs still in flight.
        Containers this executor is running are always kept. Returns the removed ids.
        """
        engine = await self._connect()
        removed: list[str] = []
        for container_id, labels in await call(engine.managed):
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
            await call(engine.close)

    def _own(self, run: ContainerRun, labels: Mapping[str, str]) -> ContainerRun:
        """`run` with our labels and a name: named before the create, so a create cut
        short by a cancel can still be found and removed."""
        labels = {**run.labels, **labels}
        if self.scope is not None:
            labels[SCOPE_LABEL] = self.scope
        return replace(run, labels=labels, name=run.name or f"tidegate-{secrets.token_hex(8)}")

    async def _connect(self) -> Engine:
        if self._engine is None:
            if self._connecting is None:
                self._connecting = asyncio.Lock()
            async with self._connecting:
                if self._engine is None:
                    self._engine = await call(
                        lambda: Engine.connect(
                            self.base_url, timeout=self.api_timeout, pool=self.max_pool_size
                        )
                    )
        return self._engine


async def _refused(on_line: LineSink, message: str, exit_code: int | None = None) -> Outcome:
    """The user's failure before the container ran: the reason on stderr, no exit."""
    await emit_line(on_line, line("stderr", f"tidegate: {message}"))
    return Outcome(exit_code=exit_code)
