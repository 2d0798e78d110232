"""Harbor webhooks: `PUSH_ARTIFACT`, in the "Default" JSON format and the CloudEvents one.

A push names one artifact per resource (a `docker push` of one tag: one resource);
`resource_url` is `host/project/repo:tag` (or `@digest`), the host being Harbor's own
external URL, so hooks may be bound to it. Harbor signs nothing, but sends the policy's
"Auth Header" verbatim as `Authorization`: the hook's secret is that value.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tidegate.errors import PayloadError
from tidegate.events import grammar
from tidegate.events.sources import fields
from tidegate.events.sources.auth import NO_AUTH, HookAuth
from tidegate.events.sources.base import (
    Parsed,
    Sample,
    SecretHeader,
    body_hash,
    load_json,
    nth,
    split_reference,
)
from tidegate.image_event import ImageEvent

PUSH = "PUSH_ARTIFACT"
CLOUDEVENT_PUSH = "harbor.artifact.pushed"
CLOUDEVENTS = "application/cloudevents+json"
SAMPLE_HOST = "harbor.example.com"


class HarborSource(SecretHeader):
    """Harbor's webhook policies (Default or CloudEvents payload format)."""

    name = "harbor"
    bindable = True  # resource_url names Harbor's host

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        doc = fields.document(load_json(body), "a Harbor webhook with type and event_data")
        cloudevent = "specversion" in doc
        kind = fields.text(doc, "type", "type", required=True)
        if kind not in (PUSH, CLOUDEVENT_PUSH):
            return Parsed(ignored=[f"Harbor event {grammar.clip(kind)} is not a push"])
        data_key = "data" if cloudevent else "event_data"
        data = fields.obj(doc, data_key, data_key, required=True)
        resources = fields.items(data, "resources", f"{data_key}.resources")
        if not resources:
            raise PayloadError(f"missing field {data_key}.resources", field=f"{data_key}.resources")
        repository = fields.obj(data, "repository", f"{data_key}.repository")
        full_name = fields.text(
            repository, "repo_full_name", f"{data_key}.repository.repo_full_name"
        )
        pusher = fields.text(doc, "operator", "operator")
        if cloudevent:
            delivery = fields.text(doc, "id", "id", required=True)
            pushed_at = fields.timestamp(doc.get("time"), "time")
        else:
            delivery = body_hash(body)
            pushed_at = fields.timestamp(doc.get("occur_at"), "occur_at")
        parsed = Parsed()
        for index, resource in enumerate(resources):
            path = f"{data_key}.resources.{index}"
            if not isinstance(resource, dict):
                raise PayloadError(f"{path} must be an object", field=path)
            url = fields.text(resource, "resource_url", f"{path}.resource_url", required=True)
            host, repo, url_tag, url_digest = fields.reference(url, f"{path}.resource_url")
            if full_name and full_name != repo:
                message = f"{path}.resource_url names {grammar.clip(repo)}, not {full_name}"
                raise PayloadError(message, field=f"{path}.resource_url")
            digest = fields.text(resource, "digest", f"{path}.digest", grammar.digest_problem)
            tag = fields.text(resource, "tag", f"{path}.tag", grammar.tag_problem)
            parsed.events.append(
                ImageEvent(
                    source=self.name,
                    delivery_id=nth(delivery, index),
                    registry=host,
                    repository=repo,
                    tag=tag or url_tag,
                    digest=digest or url_digest,
                    media_type=fields.text(
                        resource, "mime_type", f"{path}.mime_type", grammar.media_type_problem
                    ),
                    pusher=pusher,
                    pushed_at=pushed_at,
                    raw=doc,
                )
            )
        return parsed

    def sample(self, reference: str, *, callback_url: str = "", auth: HookAuth = NO_AUTH) -> Sample:
        """The Default format (the CloudEvents one is recorded in the fixtures)."""
        body = harbor_payload(reference)
        return body, {"content-type": "application/json", **self.sign(body, auth)}


def harbor_payload(
    reference: str,
    *,
    host: str = SAMPLE_HOST,
    digest: str = "",
    pusher: str = "tidegate-simulate",
    cloudevent: bool = False,
) -> bytes:
    """What Harbor posts for a push of `reference` (`project/repo:tag`) to `host`."""
    repository, tag = split_reference(reference)
    namespace, _, name = repository.partition("/")
    digest = digest or "sha256:" + uuid.uuid4().hex * 2
    now = int(time.time())
    data: dict[str, Any] = {
        "resources": [{"digest": digest, "tag": tag, "resource_url": f"{host}/{repository}:{tag}"}],
        "repository": {
            "date_created": now - 86400,
            "name": name,
            "namespace": namespace,
            "repo_full_name": repository,
            "repo_type": "private",
        },
    }
    if cloudevent:
        doc: dict[str, Any] = {
            "specversion": "1.0",
            "requestid": str(uuid.uuid4()),
            "id": str(uuid.uuid4()),
            "source": "/projects/1/webhook/policies/1",
            "type": CLOUDEVENT_PUSH,
            "datacontenttype": "application/json",
            "time": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
            "data": data,
            "operator": pusher,
        }
    else:
        doc = {"type": PUSH, "occur_at": now, "operator": pusher, "event_data": data}
    return json.dumps(doc).encode()
