"""What Tidegate's own registry client reads from the settings (`config.Settings` has
it all). A protocol rather than `Settings` itself: `tidegate promote` builds just these
fields without pydantic (cli/registry_settings.py), and starts that much sooner.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class RegistrySettings(Protocol):
    @property
    def registry_allowed_hosts(self) -> Sequence[str]: ...
    @property
    def insecure_registries(self) -> Sequence[str]: ...
    @property
    def outbound_timeout(self) -> float: ...
    @property
    def docker_config(self) -> Path | None: ...
    def logins(self) -> dict[str, tuple[str, str]]:
        """`registry_logins` as (user, password) per host."""
        ...
