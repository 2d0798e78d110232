"""Realistic sample webhooks, for `tidegate simulate` and for trying a set-up by hand."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from datetime import UTC, datetime

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def split_reference(reference: str) -> tuple[str, str]:
    """`acme/web:v1.2.3` → ("acme/web", "v1.2.3"); no tag means "latest"."""
    name, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        return reference, "latest"
    return name, tag


def dockerhub_payload(
    reference: str, *, pusher: str = "tidegate-simulate", callback_url: str = ""
) -> bytes:
    """The body Docker Hub sends on a push (its documented webhook shape)."""
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


def registry_payload(
    reference: str, *, registry: str = "registry.example.com:5000", pusher: str = ""
) -> bytes:
    """A Distribution notification envelope holding one manifest push."""
    repository, tag = split_reference(reference)
    digest = "sha256:" + hashlib.sha256(secrets.token_bytes(32)).hexdigest()
    event = {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(),
        "action": "push",
        "target": {
            "mediaType": DOCKER_MANIFEST,
            "size": 1234,
            "digest": digest,
            "length": 1234,
            "repository": repository,
            "url": f"http://{registry}/v2/{repository}/manifests/{digest}",
            "tag": tag,
        },
        "request": {
            "id": str(uuid.uuid4()),
            "addr": "127.0.0.1:53210",
            "host": registry,
            "method": "PUT",
            "useragent": "tidegate-simulate",
        },
        "actor": {"name": pusher},
        "source": {"addr": "registry:5000", "instanceID": str(uuid.uuid4())},
    }
    return json.dumps({"events": [event]}).encode()


SOURCES = ("dockerhub", "registry")
CONTENT_TYPES = {
    "dockerhub": "application/json",
    "registry": "application/vnd.docker.distribution.events.v2+json",
}
