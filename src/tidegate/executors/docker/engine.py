"""The socket layer: blocking docker SDK calls, each one translated once.

Returns plain data; raises `Refused` for the user's failures (an image, a create or a
start the engine refuses) and `ContainerEngineError` for ours. Every call here blocks:
the executor runs each in a thread of its own (`bridge`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import docker
import requests
import urllib3
from docker.errors import APIError, DockerException, NotFound

from tidegate.errors import TidegateError
from tidegate.executors.container_spec import MANAGED_LABEL, PullPolicy
from tidegate.executors.lines import decode

INSPECT_ATTEMPTS = 20


class ContainerEngineError(TidegateError):
    """The container engine failed (our failure, not the step's)."""


class Refused(Exception):
    """The engine refused the user's container: reported as the step's failure."""

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        self.message = message
        self.exit_code = exit_code
        super().__init__(message)


def exited(state: Mapping[str, Any]) -> bool:
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


def _start_refused(exc: APIError) -> Refused:
    """A start the runtime refuses (command not found, unknown user) is the user's,
    reported as a shell would: 127 not found, 126 not executable."""
    text = _explain(exc)
    lowered = text.lower()
    code = None
    if "not found" in lowered or "no such file" in lowered:
        code = 127
    elif "permission denied" in lowered:
        code = 126
    return Refused(f"cannot start the container: {text}", code)


@contextmanager
def ours(action: str) -> Iterator[None]:
    """Translate what escapes the SDK into our error; `Refused` passes through."""
    try:
        yield
    except (DockerException, requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise ContainerEngineError(f"container engine: cannot {action}: {_explain(exc)}") from exc


class Engine:
    """One connection to a Docker Engine API (Docker, or Podman's compat API)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.api = client.api

    @classmethod
    def connect(cls, base_url: str, *, timeout: float, pool: int) -> Engine:
        with ours(f"connect to {base_url}"):
            client = docker.DockerClient(
                base_url=base_url, version="auto", timeout=timeout, max_pool_size=pool
            )
        return cls(client)

    def setup(self, image: str, policy: PullPolicy, auth: dict[str, str] | None) -> None:
        """Make the image present per policy; `Refused` when it cannot be (the user's)."""
        if policy != "always" and self.image_present(image):
            return
        if policy == "never":
            raise Refused(f"image {image} is not present and the pull policy is 'never'")
        self.pull(image, auth)

    def image_present(self, image: str) -> bool:
        with ours(f"inspect image {image}"):
            try:
                self.api.inspect_image(image)
            except NotFound:  # ImageNotFound is a NotFound
                return False
        return True

    def pull(self, image: str, auth: dict[str, str] | None) -> None:
        # Both engines answer 200 and report a failed pull inside the JSON stream;
        # an HTTP error here is a reference the engine rejects outright. The user's.
        with ours(f"pull {image}"):
            try:
                for event in self.api.pull(image, stream=True, decode=True, auth_config=auth):
                    error = event.get("error") or (event.get("errorDetail") or {}).get("message")
                    if error:
                        raise Refused(f"cannot pull image {image}: {error}")
            except APIError as exc:
                raise Refused(f"cannot pull image {image}: {_explain(exc)}") from exc

    def create(self, spec: dict[str, Any]) -> str:
        # A create the engine refuses (bad network, image gone) is the user's.
        with ours("create a container"):
            try:
                return str(self.client.containers.create(**spec).id)
            except APIError as exc:
                raise Refused(f"cannot create the container: {_explain(exc)}") from exc

    def start(self, container_id: str) -> None:
        with ours("start the container"):
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
        with ours("attach to the container"):
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
            if exited(state):
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
        with ours("stop the container"):
            try:
                self.api.stop(container_id, timeout=max(0, math.ceil(grace)))
            except APIError as exc:
                if not _gone(exc):
                    raise

    def kill(self, container_id: str) -> None:
        with ours("kill the container"):
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
        with ours("remove the container"):
            try:
                self.api.remove_container(container_id, force=True, v=True)
            except APIError as exc:
                if not _gone(exc):
                    raise

    def inspect(self, container_id: str) -> dict[str, Any]:
        with ours("inspect the container"):
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
        with ours("read the container's output"):
            output = self.api.logs(container_id, stdout=True, stderr=True, tail=20 * count)
        return [decode(line) for line in bytes(output).splitlines()[-count:]]

    def exec(self, container_id: str, argv: list[str]) -> tuple[int, str]:
        with ours("run a command in the container"):
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
        with ours("list containers"):
            found = self.api.containers(all=True, filters={"label": f"{MANAGED_LABEL}=1"})
        return [(str(c["Id"]), dict(c.get("Labels") or {})) for c in found]

    def close(self) -> None:
        with suppress(Exception):
            self.client.close()
