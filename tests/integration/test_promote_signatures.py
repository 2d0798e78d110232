"""`promote` with `signatures: true` between two real registries (Debian's docker-registry,
distribution 2.8). Distribution 2.8 has no referrers API, so the
signature travels as a referrer listed under the `sha256-<hex>` fallback tag, and as a
cosign `.sig` tag."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.parts import (
    OCI_INDEX_TYPE,
    OCI_MANIFEST_TYPE,
    ImageBuilder,
    Registry,
    manifest_of,
    push,
    registry_requests,
)
from tests.support import Server, write_workflow

SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _send(url: str, data: bytes | None, method: str, content_type: str) -> dict[str, str]:
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(response.headers)


def push_blob(host: str, repository: str, data: bytes) -> dict[str, object]:
    """A monolithic upload (POST, then PUT with the digest); its descriptor."""
    started = _send(f"http://{host}/v2/{repository}/blobs/uploads/", b"", "POST", "")
    location = started["Location"]
    location = location if location.startswith("http") else f"http://{host}{location}"
    sep = "&" if "?" in location else "?"
    _send(f"{location}{sep}digest={sha(data)}", data, "PUT", "application/octet-stream")
    return {"digest": sha(data), "size": len(data)}


def put_manifest(host: str, repository: str, doc: dict[str, object], tag: str = "") -> str:
    """PUT `doc` under `tag`, or by its digest; returns the digest."""
    body = json.dumps(doc, indent=2).encode()
    url = f"http://{host}/v2/{repository}/manifests/{tag or sha(body)}"
    _send(url, body, "PUT", str(doc["mediaType"]))
    return sha(body)


def sign(host: str, repository: str, image: str) -> tuple[str, str, str]:
    """What cosign leaves beside an image, both ways: a manifest whose subject is the image
    (listed under the fallback tag, as on a registry without the referrers API) and the
    `.sig` tag. Returns (referrer digest, fallback tag, `.sig` tag's digest)."""
    body, media_type = manifest_of(host, repository, image)
    empty = {"mediaType": "application/vnd.oci.empty.v1+json", **push_blob(host, repository, b"{}")}
    payload = {"mediaType": SIMPLE_SIGNING, **push_blob(host, repository, b'{"critical": {}}')}
    referrer = put_manifest(
        host,
        repository,
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST_TYPE,
            "artifactType": SIGNATURE,
            "config": empty,
            "layers": [payload],
            "subject": {"mediaType": media_type, "digest": image, "size": len(body)},
        },
    )
    size = len(manifest_of(host, repository, referrer)[0])
    entry = {
        "mediaType": OCI_MANIFEST_TYPE,
        "digest": referrer,
        "size": size,
        "artifactType": SIGNATURE,
    }
    fallback = f"sha256-{image.partition(':')[2]}"
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX_TYPE, "manifests": [entry]}
    put_manifest(host, repository, index, fallback)
    config = push_blob(host, repository, b'{"rootfs": {}}')
    cosign_doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [{**payload, "annotations": {"dev.cosignproject.cosign/signature": "MEUC"}}],
    }
    return referrer, fallback, put_manifest(host, repository, cosign_doc, f"{fallback}.sig")


def envelope(host: str, repository: str, tag: str, digest: str) -> bytes:
    """A Distribution notification of the image's push."""
    event = {
        "id": f"signed-{digest[7:19]}",
        "timestamp": "2026-11-28T01:00:00Z",
        "action": "push",
        "target": {
            "mediaType": OCI_MANIFEST_TYPE,
            "repository": repository,
            "tag": tag,
            "digest": digest,
        },
        "request": {"host": host, "method": "PUT"},
    }
    return json.dumps({"events": [event]}).encode()


def test_promote_carries_the_signature_to_the_other_registry(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server = server_factory()
    source = Registry(tmp_path / "source").start()
    destination = Registry(tmp_path / "destination").start()
    try:
        image = push(ImageBuilder(tmp_path / "images").build("app"), f"{source.host}/demo/app:v1")
        referrer, fallback, signature_tag = sign(source.host, "demo/app", image)
        write_workflow(
            server.settings,
            "release",
            f"""
name: release
on: {{image: {{repositories: ["demo/*"]}}}}
jobs:
  release:
    steps:
      - promote: {{to: ["{destination.host}/prod/app:v1"], signatures: true}}
""",
        )
        body = envelope(source.host, "demo/app", "v1", image)
        (run_id,) = server.post_hook("registry", body).json()["runs"]
        run = server.wait_run(run_id)
        assert run["status"] == "succeeded", server.logs(run_id)
        logs = server.logs(run_id)
        assert (
            f"{destination.host}/prod/app: signatures, attestations, SBOMs carried: 2 "
            f"(1 referrer, 1 cosign tag; 2 copied, 0 already there; fallback tag {fallback} "
            "written)"
        ) in logs
        assert [p["outcome"] for p in run["promotions"]] == ["promoted"]

        # The referrer by digest, the fallback index listing it, the `.sig` tag: as at the source.
        dst = destination.host
        assert manifest_of(dst, "prod/app", referrer) == manifest_of(
            source.host, "demo/app", referrer
        )
        index, media_type = manifest_of(dst, "prod/app", fallback)
        assert media_type == OCI_INDEX_TYPE
        assert [d["digest"] for d in json.loads(index)["manifests"]] == [referrer]
        assert index == manifest_of(source.host, "demo/app", fallback)[0]  # copied byte for byte
        assert sha(manifest_of(dst, "prod/app", f"{fallback}.sig")[0]) == signature_tag
        assert sha(manifest_of(dst, "prod/app", "v1")[0]) == image

        # Again: the image and everything about it are there; nothing is written.
        writes = len(_writes(destination))
        with server.client() as c:
            (again_id,) = c.post(f"/api/v1/runs/{run_id}/rerun").json()["runs"]
        again = server.wait_run(again_id)
        assert again["status"] == "succeeded", server.logs(again_id)
        assert [p["outcome"] for p in again["promotions"]] == ["unchanged"]
        assert "0 copied, 2 already there; fallback tag up to date" in server.logs(again_id)
        assert len(_writes(destination)) == writes
    finally:
        source.stop()
        destination.stop()


def _writes(registry: Registry) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in registry_requests(registry, "tidegate/")
        if r.method in ("PUT", "POST", "PATCH", "DELETE")
    ]
