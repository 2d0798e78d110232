"""Manifest media types and digests, computed over the exact bytes a registry serves, and
what a manifest refers to (child manifests, blobs)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from tidegate.registry.errors import InvalidReference
from tidegate.registry.reference import check_digest

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


@dataclass(frozen=True)
class Descriptor:
    """What a manifest says of something it refers to."""

    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class References:
    """A manifest's child manifests (an index's) and blobs (an image's config and layers)."""

    manifests: tuple[Descriptor, ...]
    blobs: tuple[Descriptor, ...]


def references(body: bytes, media_type: str) -> References:
    """What a manifest refers to, for copying it. Layers with `urls` (Windows' foreign
    layers, OCI non-distributable ones) are left out: registries do not hold them.
    A `subject` is left out too: it points at another image, which a copy of this one
    does not bring along."""
    if media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED):
        raise ManifestFormatError("a schema 1 manifest: its signature binds its name; not copied")
    doc = _json(body)
    if not doc:
        raise ManifestFormatError("not a JSON object")
    children = tuple(_descriptor(d, "manifests") for d in _list(doc, "manifests"))
    blobs = []
    if "config" in doc:
        config = doc["config"]
        blobs.append(_descriptor(config if isinstance(config, dict) else {}, "config"))
    for layer in _list(doc, "layers"):
        if not (isinstance(layer, dict) and layer.get("urls")):
            blobs.append(_descriptor(layer, "layers"))
    return References(children, tuple(blobs))


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


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise ManifestFormatError(f"{key!r} is not a list")
    return value


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestFormatError(f"an entry of {where!r} is not an object")
    digest, size = value.get("digest"), value.get("size")
    media_type = value.get("mediaType", "")
    try:
        check_digest(digest if isinstance(digest, str) else "")
    except InvalidReference:
        raise ManifestFormatError(f"an entry of {where!r} has no valid digest") from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestFormatError(f"{where!r} entry {digest} has no valid size")
    return Descriptor(media_type if isinstance(media_type, str) else "", str(digest), size)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}
