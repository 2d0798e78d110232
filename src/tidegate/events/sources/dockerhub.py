"""Docker Hub push webhooks, as raw JSON or as the form field `payload`.

Docker Hub once posted the form-encoded shape, and the Jenkins plugin accepted both;
senders migrated from it may still use either, so the body decides, not the content type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from tidegate.errors import PayloadError
from tidegate.events.model import ImageEvent, body_hash
from tidegate.events.sources.base import Parsed

REGISTRY = "docker.io"

# Distribution's name grammar. Its `[-]*` separator lets two alphanumeric runs meet, which
# Python's backtracking engine explores exponentially; `-+` accepts exactly the same names.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_REPOSITORY_MAX = 255
_TAG_RE = re.compile(r"\w[\w.-]{0,127}", re.ASCII)  # ASCII: Go's \w, as Distribution means it
_FORM = "application/x-www-form-urlencoded"


class DockerHubSource:
    """Docker Hub (and the Jenkins plugin's `/dockerhub-webhook/` senders)."""

    name = "dockerhub"

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        """One push per body; Docker Hub sends nothing else to a webhook."""
        doc = _load_json(_json_part(body, headers))
        if not isinstance(doc, dict):
            raise PayloadError("expected a JSON object with push_data and repository")

        push_data = doc.get("push_data")
        if push_data is None:
            raise PayloadError("missing field push_data", field="push_data")
        if not isinstance(push_data, dict):
            raise PayloadError("push_data must be an object", field="push_data")
        repository = doc.get("repository")
        if repository is None:
            raise PayloadError("missing field repository.repo_name", field="repository.repo_name")
        if not isinstance(repository, dict):
            raise PayloadError("repository must be an object", field="repository")

        tag = _str(push_data, "tag", "push_data.tag")
        if tag and not _TAG_RE.fullmatch(tag):
            msg = f"push_data.tag {_clip(tag)} is not a valid tag"
            raise PayloadError(msg, field="push_data.tag")

        event = ImageEvent(
            source=self.name,
            delivery_id=body_hash(body),
            registry=REGISTRY,
            repository=_repository(repository),
            tag=tag,
            media_type=_str(push_data, "media_type", "push_data.media_type"),  # when sent
            pusher=_str(push_data, "pusher", "push_data.pusher"),
            pushed_at=_pushed_at(push_data.get("pushed_at")),
            callback_url=_str(doc, "callback_url", "callback_url"),
            raw=doc,
        )
        return Parsed(events=[event])


def _json_part(body: bytes, headers: Mapping[str, str]) -> bytes | str:
    """The JSON text: the body itself, or its form field `payload`."""
    start = body.lstrip()
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    form_like = start.startswith(b"payload=") or (content_type == _FORM and start[:1] != b"{")
    if not form_like:
        return body
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except ValueError as exc:  # UnicodeDecodeError, raw or percent-encoded
        raise PayloadError(f"malformed form body: {exc}", field="payload") from exc
    values = form.get("payload")
    if not values:
        raise PayloadError("form body has no field payload", field="payload")
    return values[0]


def _load_json(text: bytes | str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise PayloadError(f"malformed JSON: {exc}") from exc


def _str(obj: Mapping[str, Any], key: str, field: str) -> str:
    """An optional string member; absent or null reads as ""."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{field} must be a string", field=field)
    return value


def _repository(repository: Mapping[str, Any]) -> str:
    """`namespace/name`; official images (a bare name) live under `library/`."""
    field = "repository.repo_name"
    repo_name = _str(repository, "repo_name", field)
    if not repo_name:
        raise PayloadError(f"missing field {field}", field=field)
    full = repo_name if "/" in repo_name else f"library/{repo_name}"
    if len(full) > _REPOSITORY_MAX or not _REPOSITORY_RE.fullmatch(full):
        msg = f"{field} {_clip(repo_name)} is not a valid repository name"
        raise PayloadError(msg, field=field)
    return full


def _pushed_at(value: Any) -> datetime | None:
    field = "push_data.pushed_at"
    if value is None:
        return None
    # bool is an int to Python, but never a timestamp.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{field} must be a Unix timestamp", field=field)
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise PayloadError(f"{field} {value!r} is out of range", field=field) from exc


def _clip(value: str) -> str:
    """A sender's string, quoted and short enough for an error message."""
    return repr(value if len(value) <= 80 else value[:77] + "...")
