"""When a service container counts as ready.

A service is ready when, checked in this order of preference:

1. its image has a HEALTHCHECK: the engine reports it healthy, or its test, exec'd by us,
   exits 0. Podman runs healthchecks from systemd timers, so without systemd (the
   Podman of CI machines and containers) the status stays "starting" forever; running
   the test ourselves gives the same answer on Docker and on Podman;
2. a `ready` TCP port accepts a connection (on 127.0.0.1 with host networking, else on
   the container's address);
3. a `ready` command exec'd in the container exits 0;
4. none of these: the container is running.

A service that exits, or is not ready when the timeout passes, is the user's failure
(`ServiceFailed`, a `StepFailed`): the message names the service, what was waited for,
and its last lines of output.

The engine calls go through `ServiceEngine`, a narrow seam; `Probe` provides it over
the socket layer.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any, Protocol

from docker.errors import NotFound

from tidegate.executors.base import ServiceFailed, ServiceHandle
from tidegate.executors.docker.bridge import call
from tidegate.executors.docker.engine import ContainerEngineError, Engine

LAST_LINES = 10  # of a failed service's output, in its error message
_PROBE_TIMEOUT = 5.0  # seconds for one TCP connect


class ServiceEngine(Protocol):
    """The engine calls readiness needs."""

    async def inspect(self, container_id: str) -> dict[str, Any]:
        """The container's inspect document."""
        ...

    async def exec(self, container_id: str, argv: list[str]) -> tuple[int, str]:
        """Run `argv` in the container; its exit code and output."""
        ...

    async def last_lines(self, container_id: str, count: int) -> list[str]:
        """The container's last `count` lines of output (stdout and stderr)."""
        ...


class Probe:
    """`ServiceEngine` over the socket layer."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def inspect(self, container_id: str) -> dict[str, Any]:
        try:
            return await call(lambda: self.engine.inspect(container_id))
        except ContainerEngineError as exc:
            if isinstance(exc.__cause__, NotFound):  # removed under us: it exited
                return {"State": {"Running": False, "ExitCode": None}}
            raise

    async def exec(self, container_id: str, argv: list[str]) -> tuple[int, str]:
        return await call(lambda: self.engine.exec(container_id, argv))

    async def last_lines(self, container_id: str, count: int) -> list[str]:
        with suppress(ContainerEngineError):
            return await call(lambda: self.engine.last_lines(container_id, count))
        return []


def healthcheck_argv(healthcheck: Mapping[str, Any] | None) -> list[str] | None:
    """The command of a Docker healthcheck (`Config.Healthcheck`), None if there is none."""
    test = list((healthcheck or {}).get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    if test[0] == "CMD":
        return test[1:] or None
    return ["/bin/sh", "-c", " ".join(test)]  # an old-style bare command string


async def wait_ready(
    engine: ServiceEngine,
    handle: ServiceHandle,
    *,
    tcp_port: int | None = None,
    command: list[str] | None = None,
    timeout: float = 60.0,
    interval: float = 0.25,
) -> None:
    """Return once `handle` is ready (see the module docstring); raise ServiceFailed if
    it exits first or is not ready within `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    info = await engine.inspect(handle.container_id)
    check, what = _readiness(engine, handle, info, tcp_port, command)
    detail = ""
    while True:
        state = info.get("State") or {}
        if not state.get("Running"):
            raise await _failure(
                engine,
                handle,
                f"exited with code {state.get('ExitCode')} before it became ready"
                f" (waited for {what})",
            )
        if (state.get("Health") or {}).get("Status") == "healthy":
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            ready, detail = await asyncio.wait_for(check(), timeout=remaining)
        except TimeoutError:
            break
        if ready:
            return
        await asyncio.sleep(max(0.0, min(interval, deadline - loop.time())))
        info = await engine.inspect(handle.container_id)
    reason = f"did not become ready within {timeout:g}s: waited for {what}"
    raise await _failure(engine, handle, reason + (f" (last check: {detail})" if detail else ""))


def _readiness(
    engine: ServiceEngine,
    handle: ServiceHandle,
    info: Mapping[str, Any],
    tcp_port: int | None,
    command: list[str] | None,
) -> tuple[Callable[[], Awaitable[tuple[bool, str]]], str]:
    """The check to repeat (ready?, what the last attempt said), and what it waits for."""
    container_id = handle.container_id

    async def exec_ok(argv: list[str]) -> tuple[bool, str]:
        code, output = await engine.exec(container_id, argv)
        last = output.strip().splitlines()[-1:] if output.strip() else []
        return code == 0, f"exit code {code}" + (f": {last[0]}" if last else "")

    healthcheck = healthcheck_argv((info.get("Config") or {}).get("Healthcheck"))
    if healthcheck is not None:
        return (lambda: exec_ok(healthcheck)), "its image's HEALTHCHECK to pass"
    if tcp_port is not None:
        host = _address(handle, info)
        if host is None:
            raise ServiceFailed(
                f"service {handle.name!r}: a ready TCP port needs host networking or a"
                f" network that gives it an address (its network is {handle.network!r})"
            )

        async def accepts() -> tuple[bool, str]:
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, tcp_port), _PROBE_TIMEOUT
                )
            except (OSError, TimeoutError) as exc:
                return False, str(exc) or type(exc).__name__
            writer.close()
            return True, ""

        return accepts, f"TCP port {tcp_port} on {host} to accept connections"
    if command:
        return (lambda: exec_ok(command)), f"`{shlex.join(command)}` to exit 0"

    async def running() -> tuple[bool, str]:
        return True, ""

    return running, "the container to run"


def _address(handle: ServiceHandle, info: Mapping[str, Any]) -> str | None:
    if handle.network == "host":
        return "127.0.0.1"
    networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
    for settings in networks.values():
        if (settings or {}).get("IPAddress"):
            return str(settings["IPAddress"])
    return None


async def _failure(engine: ServiceEngine, handle: ServiceHandle, reason: str) -> ServiceFailed:
    lines = await engine.last_lines(handle.container_id, LAST_LINES)
    output = "\n".join(f"  {line}" for line in lines) if lines else "  (no output)"
    return ServiceFailed(f"service {handle.name!r} {reason}; its last output:\n{output}")
