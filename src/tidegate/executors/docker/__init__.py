"""The docker executor: containers through the Docker Engine API, served by Docker or by
Podman (`podman system service`).

Woodpecker's backend lifecycle, in one call: setup (pull the image per policy), start
(create, attach, start), tail (stdout and stderr, line by line as they happen), wait
(the exit code), destroy (remove; idempotent, and done whatever happened). The
translation of a step into container arguments is pure and lives in `container_spec`.
Here, one concern a module:

- `engine`: the socket layer, blocking SDK calls each translated once;
- `bridge`: each blocking call in a daemon thread of its own, as an asyncio future;
- `tail`: the log pump, the attached output read by a thread into an asyncio queue;
- `readiness`: when a service counts as ready;
- `executor`: `DockerExecutor`, the async orchestration (the wait loop it shares with
  the local executor is `executors/supervise.py`).

Whose error is it? As woodpecker's `IsStepFailure` draws the line:

- the user's: an image that cannot be pulled or is absent under `pull: never`, a create
  or start the engine refuses (bad user, network, command), a value in the step that
  cannot be valid. `run_container` reports these as a failed `Outcome` with the reason
  as a stderr line; services raise `ServiceFailed` (a `StepFailed`).
- ours: the engine cannot be reached, or fails while we attach, wait or remove. These
  raise `ContainerEngineError`, after destroying what was started.

Podman 4.3 (its Docker-compatible API, 1.41) differs from Docker where it matters here:
its error wording (`engine._gone` accepts both); a failed pull is reported inside the
pull's JSON stream; the compat `wait` answers 0.3-0.5 s late and `logs?follow=1` ends up
to 0.25 s after the exit (so we attach before starting and poll inspect once the stream
ends); `logs?tail=N` counts oddly; healthchecks need systemd (see `readiness`).
"""

from __future__ import annotations

from tidegate.executors.base import ServiceFailed, ServiceHandle
from tidegate.executors.container_spec import ContainerRun, to_container_spec
from tidegate.executors.docker.engine import ContainerEngineError
from tidegate.executors.docker.executor import DockerExecutor, installation_scope

__all__ = [
    "ContainerEngineError",
    "ContainerRun",
    "DockerExecutor",
    "ServiceFailed",
    "ServiceHandle",
    "installation_scope",
    "to_container_spec",
]
