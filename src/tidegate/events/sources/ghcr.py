"""GitHub Container Registry: the GitHub `package` webhook event, action `published`.

Sent by an organisation's or a repository's webhook, or a GitHub App, with the event's
name in `X-GitHub-Event`, its id in `X-GitHub-Delivery`, and `X-Hub-Signature-256`:
`sha256=` and the HMAC-SHA256 of the exact body under the webhook's secret.
GitHub sends one `published` per version: the tagged one is the push; an untagged one
(a platform manifest of a multi-platform push, an attestation) is ignored.
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
from tidegate.events.sources.auth import NO_AUTH, HookAuth, check_signature, signature_of
from tidegate.events.sources.base import Parsed, Sample, body_hash, load_json, split_reference
from tidegate.image_event import ImageEvent

REGISTRY = "ghcr.io"
SIGNATURE = "x-hub-signature-256"
# `package` is the event; `registry_package` its older name, which GitHub still sends.
EVENTS = ("package", "registry_package")
CONTAINER_TYPES = ("container", "docker")


class GhcrSource:
    name = "ghcr"
    bindable = False  # every event is ghcr.io's
    takes_secret = True
    secret_header: str | None = None

    def verify(self, headers: Mapping[str, str], body: bytes, auth: HookAuth) -> None:
        check_signature(headers, SIGNATURE, auth, body, prefix="sha256=")

    def sign(self, body: bytes, auth: HookAuth) -> dict[str, str]:
        return signature_of(SIGNATURE, auth, body, prefix="sha256=")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed:
        kind = headers.get("x-github-event", "")
        doc = fields.document(load_json(body), "a GitHub package event")
        if kind and kind not in EVENTS:
            return Parsed(ignored=[f"GitHub event {grammar.clip(kind)} is not a package push"])
        key = "registry_package" if kind == "registry_package" else "package"
        if key not in doc and "registry_package" in doc:
            key = "registry_package"
        action = fields.text(doc, "action", "action", required=True)
        if action != "published":
            return Parsed(ignored=[f"package {grammar.clip(action)} is not a push"])
        package = fields.obj(doc, key, key, required=True)
        kind_of = fields.text(package, "package_type", f"{key}.package_type").lower()
        if kind_of and kind_of not in CONTAINER_TYPES:
            return Parsed(ignored=[f"a {grammar.clip(kind_of)} package, not a container image"])
        version = fields.obj(package, "package_version", f"{key}.package_version", required=True)
        where = f"{key}.package_version.container_metadata"
        metadata = fields.obj(version, "container_metadata", where)
        tag_doc = fields.obj(metadata, "tag", f"{where}.tag")
        tag = fields.text(tag_doc, "name", f"{where}.tag.name", grammar.tag_problem)
        if not tag:
            return Parsed(ignored=["an untagged version (a platform manifest or an attestation)"])
        digest = fields.text(tag_doc, "digest", f"{where}.tag.digest", grammar.digest_problem)
        if not digest:
            digest = fields.text(
                version, "version", f"{key}.package_version.version", grammar.digest_problem
            )
        manifest = fields.obj(metadata, "manifest", f"{where}.manifest")
        delivery = headers.get("x-github-delivery", "")
        if grammar.text_problem(delivery) is not None:
            raise PayloadError("header X-GitHub-Delivery is not a valid id", field="headers")
        event = ImageEvent(
            source=self.name,
            delivery_id=delivery or body_hash(body),
            registry=REGISTRY,
            repository=_repository(package, version, key),
            tag=tag,
            digest=digest,
            media_type=fields.text(
                manifest, "media_type", f"{where}.manifest.media_type", grammar.media_type_problem
            ),
            pusher=fields.text(fields.obj(doc, "sender", "sender"), "login", "sender.login"),
            pushed_at=fields.timestamp(
                version.get("created_at"), f"{key}.package_version.created_at"
            ),
            raw=doc,
        )
        return Parsed(events=[event])

    def sample(self, reference: str, *, callback_url: str = "", auth: HookAuth = NO_AUTH) -> Sample:
        body = ghcr_payload(reference)
        headers = {
            "content-type": "application/json",
            "x-github-event": "package",
            "x-github-delivery": str(uuid.uuid4()),
            "user-agent": "GitHub-Hookshot/tidegate-simulate",
        }
        return body, headers | self.sign(body, auth)


def _repository(package: Mapping[str, Any], version: Mapping[str, Any], key: str) -> str:
    """`owner/name` from package_url (`ghcr.io/owner/name:tag`), else owner and name."""
    url = fields.text(version, "package_url", f"{key}.package_version.package_url")
    if url:
        # GitHub keeps an owner's capitals in package_url; image names are lower case.
        host, slash, rest = url.partition("/")
        path = rest.split("@", 1)[0].split(":", 1)[0]
        url = host + slash + path.lower() + rest[len(path) :]
        host, repository, _, _ = fields.reference(url, f"{key}.package_version.package_url")
        if host != REGISTRY:
            raise PayloadError(
                f"{key}.package_version.package_url is not on {REGISTRY}",
                field=f"{key}.package_version.package_url",
            )
        return repository
    owner = fields.text(fields.obj(package, "owner", f"{key}.owner"), "login", f"{key}.owner.login")
    name = fields.text(package, "name", f"{key}.name", required=True)
    repository = f"{owner}/{name}".lower() if owner else name.lower()
    fields.check(grammar.repository_problem(repository), f"{key}.name")
    return repository


def ghcr_payload(
    reference: str, *, digest: str = "", pusher: str = "tidegate-simulate", media_type: str = ""
) -> bytes:
    """What GitHub posts when `reference` (`owner/name:tag`) is pushed to ghcr.io."""
    repository, tag = split_reference(reference)
    owner, _, name = repository.partition("/")
    digest = digest or "sha256:" + uuid.uuid4().hex * 2
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    media_type = media_type or "application/vnd.oci.image.index.v1+json"
    doc: dict[str, Any] = {
        "action": "published",
        "package": {
            "id": 1,
            "name": name,
            "namespace": owner,
            "ecosystem": "CONTAINER",
            "package_type": "CONTAINER",
            "html_url": f"https://github.com/{owner}/packages/container/package/{name}",
            "created_at": now,
            "updated_at": now,
            "owner": {"login": owner, "type": "Organization"},
            "package_version": {
                "id": 2,
                "version": digest,
                "name": digest,
                "created_at": now,
                "updated_at": now,
                "package_url": f"{REGISTRY}/{repository}:{tag}",
                "container_metadata": {
                    "tag": {"name": tag, "digest": digest},
                    "labels": {},
                    "manifest": {"digest": digest, "media_type": media_type},
                },
            },
            "registry": {
                "about_url": "https://docs.github.com/packages",
                "name": "GitHub Container Registry",
                "type": "docker",
                "url": f"https://{REGISTRY}/{owner}",
                "vendor": "GitHub Inc",
            },
        },
        "sender": {"login": pusher, "type": "User"},
    }
    return json.dumps(doc).encode()
