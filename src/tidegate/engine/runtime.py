"""The services a running workflow needs, set once per process before DBOS launches.

DBOS workflow functions are module-level and re-entered on recovery with only their
arguments, so the process-wide services they use live here.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tidegate.config import Settings
from tidegate.engine.wakeups import Wakeups
from tidegate.executors.base import Executor
from tidegate.registry import CredentialStore, ImageRef, RegistryClient, RegistryError
from tidegate.registry.reach import Reach
from tidegate.security.allowlist import AllowList
from tidegate.store.credentials import registries_of_event
from tidegate.store.db import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    # Every executor configured, by name (executors.build_executors); which one does
    # what work is chosen by engine/capabilities.py.
    executors: dict[str, Executor]
    callback_allow: AllowList
    notify_allow: AllowList
    wakeups: Wakeups = field(default_factory=Wakeups)
    # The part of the server's environment host steps inherit (see context.INHERITED).
    host_env: dict[str, str] = field(default_factory=dict)
    credentials: CredentialStore = field(default_factory=CredentialStore)
    # Runs whose cancellation this process asked for: steps poll this beside the database.
    cancelled: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _secrets: tuple[object, dict[str, str]] | None = field(default=None, init=False, repr=False)

    @property
    def workspaces(self) -> Path:
        return self.settings.data_dir / "workspaces"

    @property
    def step_cwd(self) -> Path:
        """Host steps start beside the workflows directory, where a project keeps `ci/`."""
        return self.settings.workflows.resolve().parent

    def bound_registries(self, event_id: str) -> list[str]:
        """The registries an admin bound the event's hook to: contacted even on a private
        address, which the allow-list's `*` does not reach (blocking: a query)."""
        with self.db.session() as session:
            return registries_of_event(session, event_id)

    def reach(self, bound: Sequence[str] = ()) -> Reach:
        """The registries and addresses Tidegate may contact; `bound`: the registries of
        the hook the run's event came in on (`bound_registries`)."""
        return Reach.from_settings(self.settings, bound=bound)

    def registry_client(self, bound: Sequence[str] = ()) -> RegistryClient:
        """A client for one task: httpx pools must not cross the event loops DBOS uses."""
        return RegistryClient.from_settings(self.settings, self.credentials, bound=bound)

    def pull_auth(self, image: str) -> dict[str, str] | None:
        """The docker SDK's auth_config for pulling `image`, from our credentials."""
        try:
            host = ImageRef.parse(image).registry
        except RegistryError:
            return None
        found = self.credentials(host)
        if found is None:
            return None
        if found.identity_token:
            return {"identitytoken": found.identity_token}
        return {"username": found.username, "password": found.password}

    @property
    def secret_map(self) -> dict[str, str]:
        """`secrets` in expressions: the settings' secrets, unwrapped once per value of
        the setting (every step asks; a new mapping assigned to it is seen at once)."""
        given = self.settings.secrets
        if self._secrets is None or self._secrets[0] is not given:
            self._secrets = (given, {k: v.get_secret_value() for k, v in given.items()})
        return self._secrets[1]

    def secret_values(self) -> list[str]:
        return [value for value in self.secret_map.values() if value]


_runtime: Runtime | None = None


def set_runtime(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime


def get_runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the engine runtime is not configured")
    return _runtime
