"""Azure Container Registry webhooks: `push` (and `chart_push`, `delete`, `ping`... ignored).

One event per body, Distribution-like: `target` (repository, tag, digest, mediaType) and
`request.host` (the registry, `NAME.azurecr.io`). ACR signs nothing; its webhook's
"custom headers" carry `Authorization`, which Tidegate compares with the hook's secret,
given raw or as `Bearer <secret>`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from tidegate.events import grammar
from tidegate.events.sources import fields
from tidegate.events.sources.auth import NO_AUTH, HookAuth
from tidegate.events.sources.base import Parsed, Sample, SecretHeader, load_json, split_reference
from tidegate.image_event import ImageEvent

SAMPLE_HOST = "acme.azurecr.io"


class AcrSource(SecretHeader):
    name = "acr"
    bindable = True  # request.host names the registry
    bearer = True

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        doc = fields.document(load_json(body), "an ACR webhook event with action and target")
        action = fields.text(doc, "action", "action", required=True)
        if action != "push":
            return Parsed(ignored=[f"ACR {grammar.clip(action)} is not an image push"])
        delivery = fields.text(doc, "id", "id", required=True)
        target = fields.obj(doc, "target", "target", required=True)
        tag = fields.text(target, "tag", "target.tag", grammar.tag_problem)
        if not tag:
            return Parsed(ignored=["an untagged manifest push"])
        request = fields.obj(doc, "request", "request", required=True)
        return Parsed(
            events=[
                ImageEvent(
                    source=self.name,
                    delivery_id=delivery,
                    registry=fields.registry(request, "host", "request.host"),
                    repository=fields.repository(target, "repository", "target.repository"),
                    tag=tag,
                    digest=fields.text(target, "digest", "target.digest", grammar.digest_problem),
                    media_type=fields.text(
                        target, "mediaType", "target.mediaType", grammar.media_type_problem
                    ),
                    pushed_at=fields.timestamp(doc.get("timestamp"), "timestamp"),
                    raw=doc,
                )
            ]
        )

    def sample(self, reference: str, *, callback_url: str = "", auth: HookAuth = NO_AUTH) -> Sample:
        body = acr_payload(reference)
        return body, {"content-type": "application/json", **self.sign(body, auth)}


def acr_payload(
    reference: str,
    *,
    host: str = SAMPLE_HOST,
    digest: str = "",
    media_type: str = "application/vnd.docker.distribution.manifest.v2+json",
) -> bytes:
    """What ACR posts when `reference` (`repo:tag`) is pushed to `host`."""
    repository, tag = split_reference(reference)
    doc = {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "action": "push",
        "target": {
            "mediaType": media_type,
            "size": 524,
            "digest": digest or "sha256:" + uuid.uuid4().hex * 2,
            "length": 524,
            "repository": repository,
            "tag": tag,
        },
        "request": {
            "id": str(uuid.uuid4()),
            "host": host,
            "method": "PUT",
            "useragent": "docker/24.0.7 go/go1.20.10 (tidegate-simulate)",
        },
    }
    return json.dumps(doc).encode()
