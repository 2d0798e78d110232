"""Docker Hub push webhooks, as raw JSON or as the form field `payload`.

Docker Hub once posted the form-encoded shape, and the Jenkins plugin accepted both;
senders migrated from it may still use either, so the body decides, not the content type.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from tidegate.errors import PayloadError
from tidegate.events import grammar
from tidegate.events.sources import fields
from tidegate.events.sources.auth import NO_AUTH, HookAuth
from tidegate.events.sources.base import (
    Parsed,
    Sample,
    Unsigned,
    body_hash,
    load_json,
    split_reference,
)
from tidegate.image_event import ImageEvent

REGISTRY = "docker.io"
_FORM = "application/x-www-form-urlencoded"


class DockerHubSource(Unsigned):
    """Docker Hub (and the Jenkins plugin's `/dockerhub-webhook/` senders). Docker Hub
    signs nothing: the hook's token is all there is to check."""

    name = "dockerhub"
    bindable = False  # every event is docker.io's

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        """One push per body; Docker Hub sends nothing else to a webhook.

        The body is the event: any field that breaks its grammar refuses the delivery.
        """
        doc = load_json(_json_part(body, headers))
        if not isinstance(doc, dict):
            raise PayloadError("expected a JSON object with push_data and repository")
        fields.raw(doc)
        push_data = fields.obj(doc, "push_data", "push_data", required=True)
        if doc.get("repository") is None:
            raise PayloadError("missing field repository.repo_name", field="repository.repo_name")
        repository = fields.obj(doc, "repository", "repository")

        event = ImageEvent(
            source=self.name,
            delivery_id=body_hash(body),
            registry=REGISTRY,
            repository=_repository(repository),
            tag=fields.text(push_data, "tag", "push_data.tag", grammar.tag_problem),
            media_type=fields.text(  # when sent
                push_data, "media_type", "push_data.media_type", grammar.media_type_problem
            ),
            pusher=fields.text(push_data, "pusher", "push_data.pusher"),
            pushed_at=_pushed_at(push_data.get("pushed_at")),
            callback_url=fields.text(doc, "callback_url", "callback_url", grammar.url_problem),
            raw=doc,
        )
        return Parsed(events=[event])

    def sample(self, reference: str, *, callback_url: str = "", auth: HookAuth = NO_AUTH) -> Sample:
        body = dockerhub_payload(reference, callback_url=callback_url)
        return body, {"content-type": "application/json"}


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


def _repository(repository: Mapping[str, Any]) -> str:
    """`namespace/name`; official images (a bare name) live under `library/`."""
    field = "repository.repo_name"
    repo_name = fields.text(repository, "repo_name", field, fields.unchecked, required=True)
    full = repo_name if "/" in repo_name else f"library/{repo_name}"
    if grammar.repository_problem(full) is not None:
        msg = f"{field} {grammar.clip(repo_name)} is not a valid repository name"
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


def dockerhub_payload(
    reference: str, *, pusher: str = "tidegate-simulate", callback_url: str = ""
) -> bytes:
    """The body Docker Hub sends on a push of `reference` (its documented webhook shape)."""
    repository, tag = split_reference(reference)
    namespace, _, name = repository.rpartition("/")
    body: dict[str, object] = {
        "push_data": {
            "pushed_at": int(time.time()),
            "images": [],
            "tag": tag,
            "pusher": pusher,
        },
        "repository": {
            "status": "Active",
            "description": "",
            "is_trusted": False,
            "full_description": "",
            "repo_url": f"https://hub.docker.com/r/{repository}",
            "owner": namespace or "library",
            "is_official": not namespace,
            "is_private": False,
            "name": name,
            "namespace": namespace or "library",
            "star_count": 0,
            "comment_count": 0,
            "date_created": int(time.time()) - 86400,
            "repo_name": repository,
        },
    }
    if callback_url:
        body["callback_url"] = callback_url
    return json.dumps(body).encode()
