"""A generic CloudEvents 1.0 image push, for CI systems and anything else that pushes.

Structured mode (`application/cloudevents+json`: the envelope is the body, the push in
its `data`) and binary mode (`ce-*` headers, the body is the `data`) are both read. The
event's `type` is `dev.tidegate.image.pushed`; other types are ignored. `data`:

    {"registry": "registry.example.com", "repository": "acme/web", "tag": "v1.2.3",
     "digest": "sha256:…", "mediaType": "application/vnd.oci.image.index.v1+json",
     "pusher": "ci-bot"}

`registry` and `repository` are required; `tag` or `digest` (or both). The event's `id`
is the delivery id. The sender authenticates with `Authorization: Bearer <secret>`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tidegate.errors import PayloadError
from tidegate.events import grammar
from tidegate.events.sources import fields
from tidegate.events.sources.auth import NO_AUTH, HookAuth, header, mismatch
from tidegate.events.sources.base import Parsed, Sample, SecretHeader, load_json, split_reference
from tidegate.image_event import ImageEvent

TYPE = "dev.tidegate.image.pushed"
STRUCTURED = "application/cloudevents+json"
SAMPLE_HOST = "registry.example.com"


class CloudEventsSource(SecretHeader):
    name = "cloudevents"
    bindable = True  # data.registry names the registry
    bearer = True

    def verify(self, headers: Mapping[str, str], body: bytes, auth: HookAuth) -> None:
        # Unlike ACR's, the scheme is required: the secret alone is refused.
        if not header(headers, "authorization")[:7].lower() == "bearer ":
            raise mismatch("authorization")
        super().verify(headers, body, auth)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        if "ce-specversion" in headers:
            envelope = {
                key.removeprefix("ce-"): value
                for key, value in headers.items()
                if key.startswith("ce-")
            }
            envelope["data"] = load_json(body)
            doc = fields.document(envelope, "a CloudEvent")
        else:
            doc = fields.document(load_json(body), "a CloudEvent with specversion and data")
        version = fields.text(doc, "specversion", "specversion", required=True)
        if version != "1.0":
            raise PayloadError(
                f"specversion {grammar.clip(version)} is not 1.0", field="specversion"
            )
        kind = fields.text(doc, "type", "type", required=True)
        if kind != TYPE:
            return Parsed(ignored=[f"CloudEvent type {grammar.clip(kind)} is not {TYPE}"])
        delivery = fields.text(doc, "id", "id", required=True)
        data = fields.obj(doc, "data", "data", required=True)
        tag = fields.text(data, "tag", "data.tag", grammar.tag_problem)
        digest = fields.text(data, "digest", "data.digest", grammar.digest_problem)
        if not tag and not digest:
            raise PayloadError("data names neither tag nor digest", field="data.tag")
        return Parsed(
            events=[
                ImageEvent(
                    source=self.name,
                    delivery_id=delivery,
                    registry=fields.registry(data, "registry", "data.registry"),
                    repository=fields.repository(data, "repository", "data.repository"),
                    tag=tag,
                    digest=digest,
                    media_type=fields.text(
                        data, "mediaType", "data.mediaType", grammar.media_type_problem
                    ),
                    pusher=fields.text(data, "pusher", "data.pusher"),
                    pushed_at=fields.timestamp(doc.get("time"), "time"),
                    raw=doc,
                )
            ]
        )

    def sample(self, reference: str, *, callback_url: str = "", auth: HookAuth = NO_AUTH) -> Sample:
        body = cloudevent_payload(reference)
        return body, {"content-type": STRUCTURED, **self.sign(body, auth)}


def push_data(
    reference: str, *, host: str = SAMPLE_HOST, digest: str = "", **more: str
) -> dict[str, Any]:
    repository, tag = split_reference(reference)
    data = {"registry": host, "repository": repository, "tag": tag}
    return data | ({"digest": digest} if digest else {}) | more


def cloudevent_payload(reference: str, **data: str) -> bytes:
    """A structured-mode CloudEvent for a push of `reference` (`repo:tag`)."""
    doc = {
        "specversion": "1.0",
        "type": TYPE,
        "source": "/tidegate/simulate",
        "id": str(uuid.uuid4()),
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": push_data(reference, **data),
    }
    return json.dumps(doc).encode()
