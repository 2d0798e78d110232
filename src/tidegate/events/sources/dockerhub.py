"""Docker Hub push webhooks, as raw JSON or as the form field `payload`.

Docker Hub once posted the form-encoded shape, and the Jenkins plugin accepted both;
senders migrated from it may still use either, so the body decides, not the content type.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from tidegate.errors import PayloadError
from tidegate.events import grammar
from tidegate.events.sources.auth import NO_AUTH, HookAuth
from tidegate.events.sources.base import Parsed, Sample, Unsigned, body_hash, split_reference
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
        doc = _load_json(_json_part(body, headers))
        if not isinstance(doc, dict):
            raise PayloadError("expected a JSON object with push_data and repository")
        raw = grammar.raw_problem(doc)
        if raw is not None:
            path, reason = raw
            raise PayloadError(f"{path or 'the body'} {reason}", field=path or None)

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

        event = ImageEvent(
            source=self.name,
            delivery_id=body_hash(body),
            registry=REGISTRY,
            repository=_repository(repository),
            tag=_field(push_data, "tag", "push_data.tag", grammar.tag_problem),
            media_type=_field(  # when sent
                push_data, "media_type", "push_data.media_type", grammar.media_type_problem
            ),
            pusher=_field(push_data, "pusher", "push_data.pusher", grammar.text_problem),
            pushed_at=_pushed_at(push_data.get("pushed_at")),
            callback_url=_field(doc, "callback_url", "callback_url", grammar.url_problem),
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


def _field(
    obj: Mapping[str, Any], key: str, field: str, problem: Callable[[str], str | None]
) -> str:
    """An optional string member held to its grammar."""
    value = _str(obj, key, field)
    _check(problem(value), field, field)
    return value


def _check(problem: str | None, field: str, shown: str) -> None:
    if problem is not None:
        raise PayloadError(f"{shown} {problem}", field=field)


def _repository(repository: Mapping[str, Any]) -> str:
    """`namespace/name`; official images (a bare name) live under `library/`."""
    field = "repository.repo_name"
    repo_name = _str(repository, "repo_name", field)
    if not repo_name:
        raise PayloadError(f"missing field {field}", field=field)
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
