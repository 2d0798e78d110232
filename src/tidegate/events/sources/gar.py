"""Google Artifact Registry (and Container Registry): the `gcr` Pub/Sub topic's
messages, through a push subscription whose endpoint is the hook's URL.

The push body wraps the message: `message.data` is base64 of the registry's JSON
(`action` INSERT or DELETE, `digest` and `tag` as full references), `message.messageId`
is the delivery id (Pub/Sub redelivers with the same one). Pub/Sub signs nothing unless
the subscription is set to send an OIDC token: the secret URL is the check, and when the
operator configures `gar_oidc_audience` that token too, by a server-wide check the
intake runs after `verify` (gar_oidc.py; docs/sources.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from tidegate.errors import PayloadError
from tidegate.events import grammar
from tidegate.events.sources import fields
from tidegate.events.sources.auth import NO_AUTH, HookAuth
from tidegate.events.sources.base import Parsed, Sample, Unsigned, load_json, split_reference
from tidegate.image_event import ImageEvent

SAMPLE_HOST = "europe-west1-docker.pkg.dev"


class GarSource(Unsigned):
    name = "gar"
    bindable = True  # the references name the registry host

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        doc = fields.document(load_json(body), "a Pub/Sub push with message.data")
        message = fields.obj(doc, "message", "message", required=True)
        encoded = fields.text(message, "data", "message.data", _length, required=True)
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise PayloadError("message.data is not base64", field="message.data") from exc
        data = fields.document(load_json(decoded), "message.data holding action and tag")
        action = fields.text(data, "action", "message.data.action", required=True)
        if action != "INSERT":
            return Parsed(ignored=[f"Artifact Registry {grammar.clip(action)} is not a push"])
        tagged = fields.text(data, "tag", "message.data.tag", _length)
        if not tagged:
            return Parsed(ignored=["an untagged image push"])
        registry, repository, tag, _ = fields.reference(tagged, "message.data.tag")
        digest = ""
        by_digest = fields.text(data, "digest", "message.data.digest", _length)
        if by_digest:
            _, named, _, digest = fields.reference(by_digest, "message.data.digest")
            if named != repository:
                raise PayloadError("message.data.digest names another image", field="message")
        delivery = fields.text(message, "messageId", "message.messageId") or fields.text(
            message, "message_id", "message.message_id", required=True
        )
        return Parsed(
            events=[
                ImageEvent(
                    source=self.name,
                    delivery_id=delivery,
                    registry=registry,
                    repository=repository,
                    tag=tag,
                    digest=digest,
                    pushed_at=fields.timestamp(message.get("publishTime"), "message.publishTime"),
                    raw=doc | {"message": message | {"data": data}},
                )
            ]
        )

    def sample(self, reference: str, *, callback_url: str = "", auth: HookAuth = NO_AUTH) -> Sample:
        return gar_payload(reference), {"content-type": "application/json"}


def _length(value: str) -> str | None:
    """message.data and references: long, but bounded (a body is bounded anyway)."""
    return grammar.text_problem(value, limit=1_000_000)


def gar_payload(
    reference: str, *, host: str = SAMPLE_HOST, project: str = "", digest: str = ""
) -> bytes:
    """The push Pub/Sub sends when `reference` (`repo/image:tag`) is pushed to `host`;
    `project` (if given) is put in front of the repository, as GAR names it."""
    repository, tag = split_reference(reference)
    path = f"{project}/{repository}" if project else repository
    digest = digest or "sha256:" + uuid.uuid4().hex * 2
    data = {
        "action": "INSERT",
        "digest": f"{host}/{path}@{digest}",
        "tag": f"{host}/{path}:{tag}",
    }
    message_id = str(uuid.uuid4().int)[:16]
    doc = {
        "message": {
            "attributes": {},
            "data": base64.b64encode(json.dumps(data).encode()).decode(),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        },
        "subscription": "projects/acme-ci/subscriptions/tidegate",
    }
    return json.dumps(doc).encode()
