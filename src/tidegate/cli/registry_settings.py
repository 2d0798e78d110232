"""The settings `tidegate promote` reads, without pydantic.

pydantic-settings is a third of a retag's start (issue 11): a registry client needs
five settings, read here by `config.Settings`' rules, and
tests/unit/test_registry_settings.py holds the two to the same answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tidegate.errors import TidegateError


@dataclass(frozen=True)
class RegistryOnly:
    """The settings a registry client reads (registry/settings.py), and no others."""

    registry_allowed_hosts: list[str] = field(default_factory=lambda: ["*"])
    insecure_registries: list[str] = field(default_factory=list)
    outbound_timeout: float = 10.0
    docker_config: Path | None = None
    registry_logins: dict[str, str] = field(default_factory=dict)  # host: "user:password"

    def logins(self) -> dict[str, tuple[str, str]]:
        """As `Settings.logins`: "user:password" split at its first colon."""
        pairs = {}
        for host, login in self.registry_logins.items():
            user, _, password = login.partition(":")
            pairs[host] = (user, password)
        return pairs


def registry_settings(
    environ: Mapping[str, str] = os.environ, toml: Path = Path("tidegate.toml")
) -> RegistryOnly:
    """`RegistryOnly` by config.Settings' rules, without pydantic (a third of `tidegate
    promote`'s start): `TIDEGATE_*` variables over tidegate.toml, names and keys in any
    case, lists comma-separated, logins JSON and merged with the file's; then
    `load_settings`' docker config. tests/unit/test_registry_settings.py holds it to
    Settings. A value Settings would refuse raises TidegateError, naming where it is."""
    env = {key.lower(): value for key, value in environ.items()}
    read: dict[str, Any] = {}
    if toml.is_file():
        import tomllib  # only for a file there is: a few ms of start otherwise

        try:
            read = tomllib.loads(toml.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise TidegateError(f"{toml}: {exc}") from exc
    file = {key.lower(): value for key, value in read.items()}
    given: dict[str, Any] = {}
    for name, parse in _PARSERS.items():
        # The environment over the file; a dict's sources are merged, as pydantic-settings does.
        for where, raw in (
            (f"{name} in {toml}", file.get(name)),
            (f"TIDEGATE_{name.upper()}", env.get(f"tidegate_{name}")),
        ):
            if raw is not None:
                value = parse(where, raw)
                merged = isinstance(value, dict) and name in given
                given[name] = {**given[name], **value} if merged else value
    if given.get("docker_config") is None:
        home = environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
        given["docker_config"] = Path(home) / "config.json"
    return RegistryOnly(**given)


def _hosts(where: str, value: object) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise TidegateError(f"{where}: must be a list of hosts, or a comma-separated string")


def _seconds(where: str, value: object) -> float:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    raise TidegateError(f"{where}: must be a number of seconds")


def _path(where: str, value: object) -> Path:
    if isinstance(value, str):
        return Path(value)
    raise TidegateError(f"{where}: must be a path")


def _logins(where: str, value: object) -> dict[str, str]:
    if isinstance(value, str):  # from the environment: JSON
        try:
            value = json.loads(value)
        except ValueError:
            raise TidegateError(f'{where}: must be JSON, {{"host": "user:password"}}') from None
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return {str(host): login for host, login in value.items()}
    raise TidegateError(f'{where}: must map hosts to "user:password"')


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "registry_allowed_hosts": _hosts,
    "insecure_registries": _hosts,
    "outbound_timeout": _seconds,
    "docker_config": _path,
    "registry_logins": _logins,
}
