"""The normalized event every source produces (DESIGN.md, "Normalized event")."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SOURCES = (
    "dockerhub",
    "registry",
    "harbor",
    "quay",
    "ghcr",
    "acr",
    "ecr",
    "gar",
    "gitlab",
    "generic",
)


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


def body_hash(body: bytes) -> str:
    """Delivery id for senders that give none: the body's SHA-256."""
    return "sha256:" + hashlib.sha256(body).hexdigest()
