"""The normalized event every source produces: one image push, whatever registry sent it.

On the ground floor: the store keeps it, workflows match it, the engine runs it, and
the sources (events/sources/) make it; it imports nothing of Tidegate's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ImageEvent(BaseModel):
    """One image push, whatever registry sent it."""

    model_config = ConfigDict(frozen=True)

    id: str = ""  # ours; assigned by intake when stored
    source: str
    delivery_id: str
    registry: str  # host[:port]; docker.io for Docker Hub
    repository: str  # namespace/name; library/name for Docker Hub official images
    tag: str = ""
    digest: str = ""
    media_type: str = ""
    pusher: str = ""
    pushed_at: datetime | None = None
    callback_url: str = ""  # Docker Hub only
    received_at: datetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict)

    @property
    def image(self) -> str:
        """The reference steps use: by digest when known, else by tag."""
        if self.digest:
            return f"{self.registry}/{self.repository}@{self.digest}"
        return f"{self.registry}/{self.repository}:{self.tag or 'latest'}"
