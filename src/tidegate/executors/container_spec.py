"""A container step as data, and its translation to Docker Engine API arguments.

Pure: no socket, no clock, no randomness. `to_container_spec` turns a `ContainerRun` into
the keyword arguments of the docker SDK's `containers.create(**kwargs)`, the way
woodpecker's `pipeline/backend/docker/convert.go` turns a step into a container config.
Everything the engine would reject for a reason we can see here is rejected here, with
a message that names the field: the user reads it in the step log.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from docker.types import Mount

from tidegate.errors import TidegateError

PullPolicy: TypeAlias = Literal["always", "missing", "never"]

MANAGED_LABEL = "tidegate.managed"
"""Every container Tidegate creates carries `tidegate.managed=1`: `reap` looks for it."""

_PULL_ALIASES: dict[str, PullPolicy] = {
    "always": "always",
    "missing": "missing",
    "if-missing": "missing",  # the spelling
    "never": "never",
}
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# Docker's own rule for container and network names.
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_ENV_KEY = re.compile(r"^[^=\0]+$")


class ContainerSpecError(TidegateError, ValueError):
    """The container step is not valid."""

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class ContainerRun:
    """One container to run: a `container:` step or a job's service, already rendered.

    `command` and `entrypoint` left as None keep the image's own. `network` None means
    the executor's default (`none` unless configured). `memory` is bytes or a size such
    as "512m"; `cpus` may be fractional. `mounts` maps host paths to container paths,
    mounted read-write. `aliases` name the container on a named network (services are
    reached by their service name there). `timeout` is in seconds and covers the whole
    run, pull included.
    """

    image: str
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    user: str | None = None
    network: str | None = None
    memory: int | str | None = None
    cpus: float | None = None
    pids: int | None = None
    pull: str = "missing"
    mounts: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    timeout: float | None = None
    init: bool = False
    aliases: list[str] = field(default_factory=list)

    @property
    def pull_policy(self) -> PullPolicy:
        """`pull` normalized (`if-missing` is `missing`); raises ContainerSpecError."""
        policy = _PULL_ALIASES.get(self.pull)
        if policy is not None:
            return policy
        raise ContainerSpecError(
            f"pull must be always, missing or never, not {self.pull!r}", field="pull"
        )


def parse_memory(value: int | str) -> int:
    """Bytes from an int or a size: "512m", "1.5g", "64k", "1048576" (units are 1024-based)."""
    if isinstance(value, bool):
        raise ContainerSpecError("memory must be a size such as 512m", field="memory")
    if isinstance(value, int):
        size = value
    else:
        match = _MEMORY.match(value.strip())
        if not match:
            raise ContainerSpecError(
                f"memory {value!r} is not a size such as 512m, 1g or 1048576", field="memory"
            )
        size = int(float(match[1]) * _UNITS[match[2].lower()])
    if size <= 0:
        raise ContainerSpecError(f"memory must be more than 0 bytes, not {value!r}", field="memory")
    return size


def to_container_spec(run: ContainerRun, *, default_network: str = "none") -> dict[str, Any]:
    """The docker SDK `containers.create(**kwargs)` arguments for `run`.

    Raises ContainerSpecError naming the field when `run` cannot be valid. The result
    always carries `tidegate.managed=1` among the labels and never removes itself
    (`auto_remove=False`): the executor reads the exit code, then removes the container.
    """
    if not run.image or run.image != run.image.strip() or any(c.isspace() for c in run.image):
        raise ContainerSpecError(f"image {run.image!r} is not an image reference", field="image")
    _ = run.pull_policy  # validates
    spec: dict[str, Any] = {
        "image": run.image,
        "command": _argv(run.command, "command"),
        "labels": _labels(run.labels),
        "auto_remove": False,
        "detach": True,
        "stdin_open": False,
        "tty": False,  # a TTY would merge stderr into stdout
    }
    if run.entrypoint is not None:
        spec["entrypoint"] = _argv(run.entrypoint, "entrypoint")
    if run.env:
        spec["environment"] = _env(run.env)
    if run.workdir is not None:
        if not run.workdir.startswith("/"):
            raise ContainerSpecError(
                f"workdir must be an absolute path, not {run.workdir!r}", field="workdir"
            )
        spec["working_dir"] = run.workdir
    if run.user is not None:
        if not run.user or any(c.isspace() for c in run.user):
            raise ContainerSpecError(
                f"user must be a name or uid[:gid], not {run.user!r}", field="user"
            )
        spec["user"] = run.user
    spec.update(_network(run.network or default_network, run.aliases))
    if run.memory is not None:
        spec["mem_limit"] = parse_memory(run.memory)
    if run.cpus is not None:
        if isinstance(run.cpus, bool) or not run.cpus > 0:
            raise ContainerSpecError(f"cpus must be more than 0, not {run.cpus!r}", field="cpus")
        spec["nano_cpus"] = round(run.cpus * 1e9)
    if run.pids is not None:
        if isinstance(run.pids, bool) or not isinstance(run.pids, int) or run.pids <= 0:
            raise ContainerSpecError(
                f"pids must be a whole number above 0, not {run.pids!r}", field="pids"
            )
        spec["pids_limit"] = run.pids
    if run.mounts:
        spec["mounts"] = _mounts(run.mounts)
    if run.name is not None:
        if not _NAME.match(run.name):
            raise ContainerSpecError(
                f"container name {run.name!r} may hold only letters, digits, _ . -", field="name"
            )
        spec["name"] = run.name
    if run.init:
        spec["init"] = True
    if run.timeout is not None and not run.timeout > 0:
        raise ContainerSpecError(
            f"timeout must be more than 0 seconds, not {run.timeout!r}", field="timeout"
        )
    return spec


def registry_auth(entry: Mapping[str, str]) -> dict[str, str]:
    """The engine's `auth_config` from a docker `config.json` entry.

    Takes `{"auth": base64("user:password")}`, `{"username", "password"}` or
    `{"identitytoken"}` (the `serveraddress` is kept when given).
    """
    auth: dict[str, str] = {}
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ContainerSpecError("the registry credential is not valid base64") from exc
        if not sep:
            raise ContainerSpecError("the registry credential is not user:password")
        auth = {"username": user, "password": password}
    for key in ("username", "password", "identitytoken", "serveraddress"):
        if entry.get(key):
            auth[key] = entry[key]
    if not (auth.get("username") or auth.get("identitytoken")):
        raise ContainerSpecError("the registry credential has no username or identity token")
    return auth


def _argv(argv: list[str] | None, name: str) -> list[str] | None:
    if argv is None:
        return None
    if isinstance(argv, str) or not all(isinstance(a, str) for a in argv):
        raise ContainerSpecError(f"{name} must be a list of strings", field=name)
    if any("\0" in a for a in argv):
        raise ContainerSpecError(f"{name} may not contain NUL characters", field=name)
    return list(argv)


def _env(env: Mapping[str, str]) -> dict[str, str]:
    for key, value in env.items():
        if not _ENV_KEY.match(key):
            raise ContainerSpecError(f"environment variable name {key!r} is not valid", field="env")
        if not isinstance(value, str) or "\0" in value:
            raise ContainerSpecError(f"environment variable {key} must be text", field="env")
    return dict(env)


def _labels(labels: Mapping[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if not key or not isinstance(value, str):
            raise ContainerSpecError(f"label {key!r} needs a name and a text value", field="labels")
    # Ours last: a caller cannot unmark a container and so hide it from `reap`.
    return {**labels, MANAGED_LABEL: "1"}


def _network(network: str, aliases: list[str]) -> dict[str, Any]:
    if network in ("none", "host"):
        if aliases:
            raise ContainerSpecError(
                f"aliases need a named network, not network {network!r}", field="aliases"
            )
        return {"network_mode": network}
    if not _NAME.match(network):
        raise ContainerSpecError(
            f"network must be none, host or a network name, not {network!r}", field="network"
        )
    if not aliases:
        return {"network_mode": network}
    for alias in aliases:
        if not _NAME.match(alias):
            raise ContainerSpecError(f"alias {alias!r} is not a host name", field="aliases")
    # The SDK sets network_mode from `network` and passes the endpoint (with its aliases)
    # to the create call, so the container is reachable by those names on that network.
    return {"network": network, "networking_config": {network: {"Aliases": list(aliases)}}}


def _mounts(mounts: Mapping[str, str]) -> list[Mount]:
    out: list[Mount] = []
    for source, target in mounts.items():
        for path, which in ((source, "host"), (target, "container")):
            if not path.startswith("/"):
                raise ContainerSpecError(
                    f"mount {which} path must be absolute, not {path!r}", field="mounts"
                )
        out.append(Mount(target=target, source=source, type="bind", read_only=False))
    return out
