"""Amazon ECR: the EventBridge event "ECR Image Action", delivered by an API destination.

An EventBridge rule matching `source: aws.ecr`, `detail-type: ECR Image Action` targets an
API destination whose URL is the hook's; the event goes as is (no input transformer).
The destination's connection (API key authorisation) sends the key in a header,
`X-Api-Key` unless the hook names another: the hook's secret is the key's value.
The registry is the account's: `ACCOUNT.dkr.ecr.REGION.amazonaws.com`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from tidegate.errors import PayloadError
from tidegate.events import grammar
from tidegate.events.sources import fields
from tidegate.events.sources.auth import NO_AUTH, HookAuth
from tidegate.events.sources.base import Parsed, Sample, SecretHeader, load_json, split_reference
from tidegate.image_event import ImageEvent

DETAIL_TYPE = "ECR Image Action"
DEFAULT_HEADER = "x-api-key"
_ACCOUNT_RE = re.compile(r"[0-9]{12}")
_REGION_RE = re.compile(r"[a-z]{2}(?:-[a-z0-9]+){1,4}")
SAMPLE_ACCOUNT, SAMPLE_REGION = "123456789012", "eu-west-1"


def ecr_host(account: str, region: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com"


class EcrSource(SecretHeader):
    name = "ecr"
    bindable = True  # account and region in the body name the registry
    secret_header: str | None = DEFAULT_HEADER

    def header_name(self, auth: HookAuth) -> str:
        return (auth.header or DEFAULT_HEADER).lower()

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        doc = fields.document(load_json(body), "an EventBridge event with detail-type")
        detail_type = fields.text(doc, "detail-type", "detail-type", required=True)
        if detail_type != DETAIL_TYPE:
            return Parsed(ignored=[f"{grammar.clip(detail_type)} is not an image push"])
        detail = fields.obj(doc, "detail", "detail", required=True)
        action = fields.text(detail, "action-type", "detail.action-type", required=True)
        result = fields.text(detail, "result", "detail.result")
        if action != "PUSH" or result != "SUCCESS":
            shown = f"{grammar.clip(action)} {grammar.clip(result)}"
            return Parsed(ignored=[f"ECR {shown} is not a successful push"])
        tag = fields.text(detail, "image-tag", "detail.image-tag", grammar.tag_problem)
        if not tag:
            return Parsed(ignored=["an untagged image push"])
        account = fields.text(doc, "account", "account", required=True)
        region = fields.text(doc, "region", "region", required=True)
        if not _ACCOUNT_RE.fullmatch(account):
            raise PayloadError("account must be a 12-digit AWS account id", field="account")
        if not _REGION_RE.fullmatch(region):
            raise PayloadError(
                f"region {grammar.clip(region)} is not an AWS region", field="region"
            )
        return Parsed(
            events=[
                ImageEvent(
                    source=self.name,
                    delivery_id=fields.text(doc, "id", "id", required=True),
                    registry=ecr_host(account, region),
                    repository=fields.repository(
                        detail, "repository-name", "detail.repository-name"
                    ),
                    tag=tag,
                    digest=fields.text(
                        detail, "image-digest", "detail.image-digest", grammar.digest_problem
                    ),
                    media_type=fields.text(
                        detail,
                        "manifest-media-type",
                        "detail.manifest-media-type",
                        grammar.media_type_problem,
                    ),
                    pushed_at=fields.timestamp(doc.get("time"), "time"),
                    raw=doc,
                )
            ]
        )

    def sample(self, reference: str, *, callback_url: str = "", auth: HookAuth = NO_AUTH) -> Sample:
        body = ecr_payload(reference)
        return body, {"content-type": "application/json", **self.sign(body, auth)}


def ecr_payload(
    reference: str,
    *,
    account: str = SAMPLE_ACCOUNT,
    region: str = SAMPLE_REGION,
    digest: str = "",
    media_type: str = "application/vnd.docker.distribution.manifest.v2+json",
) -> bytes:
    """The event EventBridge delivers when `reference` (`repo:tag`) is pushed to ECR."""
    repository, tag = split_reference(reference)
    doc = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.ecr",
        "account": account,
        "time": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "region": region,
        "resources": [f"arn:aws:ecr:{region}:{account}:repository/{repository}"],
        "detail": {
            "result": "SUCCESS",
            "repository-name": repository,
            "image-digest": digest or "sha256:" + uuid.uuid4().hex * 2,
            "action-type": "PUSH",
            "image-tag": tag,
            "manifest-media-type": media_type,
            "artifact-media-type": "application/vnd.docker.container.image.v1+json",
        },
    }
    return json.dumps(doc).encode()
