"""Manifest media types and digests, computed over the exact bytes a registry serves."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"

MANIFEST_MEDIA_TYPES = (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX)
# Schema 1 only as a last resort: given a choice, distribution would convert to it.
ACCEPT = ", ".join((*MANIFEST_MEDIA_TYPES, f"{DOCKER_SCHEMA1_SIGNED};q=0.5"))
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # distribution's own limit for a manifest


class ManifestFormatError(ValueError):
    """The manifest bytes cannot be read as the media type they claim."""


def media_type_of(content_type: str | None, body: bytes) -> str:
    """The media type: the Content-Type header, else the manifest's own `mediaType`."""
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared and declared not in ("application/json", "application/octet-stream", "text/plain"):
        return declared
    doc = _json(body)
    if isinstance(doc.get("mediaType"), str):
        return str(doc["mediaType"])
    if doc.get("schemaVersion") == 1:
        return DOCKER_SCHEMA1_SIGNED if "signatures" in doc else DOCKER_SCHEMA1
    if "manifests" in doc:
        return OCI_INDEX  # an OCI index may omit mediaType
    return OCI_MANIFEST if "layers" in doc else declared


def digest_of(body: bytes, media_type: str, algorithm: str = "sha256") -> str:
    """`algorithm:hex` of the manifest's canonical bytes: the bytes themselves, except
    for a signed schema 1 manifest, whose digest leaves out the JWS signatures."""
    if media_type == DOCKER_SCHEMA1_SIGNED:
        body = _unsigned_payload(body)
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def _unsigned_payload(body: bytes) -> bytes:
    # libtrust: the protected header says how many leading bytes to keep and which
    # tail (the closing brace and newline) to put back.
    try:
        protected = _json(_b64url(_json(body)["signatures"][0]["protected"]))
        length, tail = int(protected["formatLength"]), _b64url(protected["formatTail"])
    except (KeyError, IndexError, TypeError, ValueError, binascii.Error) as exc:
        raise ManifestFormatError("a signed schema 1 manifest without a readable JWS") from exc
    if not 0 < length <= len(body):
        raise ManifestFormatError("a signed schema 1 manifest with a bad formatLength")
    return body[:length] + tail


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}
