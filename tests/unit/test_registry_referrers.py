"""Signatures, attestations and SBOMs carried with an image: OCI referrers (the API, or
its `sha256-<hex>` fallback tag) and cosign's tags, against in-memory registries. Debian's
docker-registry (distribution 2.8) has no referrers API, so only these fakes serve one."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx2
import pytest

from tests.fakeregistry import FakeRegistry, Hosts, make, ref, sha
from tidegate.registry import (
    ManifestNotFound,
    RegistryAuthError,
    RegistryClient,
    RegistryProtocolError,
)
from tidegate.registry.manifests import OCI_INDEX, OCI_MANIFEST, Descriptor
from tidegate.registry.referrers import Carried, cosign_tags, fallback_tag

pytestmark = pytest.mark.anyio

SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM = "application/spdx+json"
WRITES = ("PUT", "POST", "PATCH", "DELETE")


@dataclass
class ReferrersRegistry(FakeRegistry):
    """A FakeRegistry with the referrers API: it lists the stored manifests whose
    `subject` is the digest asked for, `page_size` at a time (0: one page)."""

    page_size: int = 0

    def _route(self, request: httpx2.Request) -> httpx2.Response:
        found = re.fullmatch(r"/v2/(.+)/referrers/([^/]+)", request.url.path)
        if found and request.method == "GET":
            return self._referrers(found.group(1), found.group(2), request.url.params.get("last"))
        return super()._route(request)

    def _referrers(self, repository: str, digest: str, last: str | None) -> httpx2.Response:
        listed = []
        for (repo, key), (body, media_type) in sorted(self.manifests.items()):
            doc = json.loads(body)
            subject = doc.get("subject", {}).get("digest")
            if repo == repository and key == sha(body) and subject == digest:
                entry = {"mediaType": media_type, "digest": key, "size": len(body)}
                listed.append({**entry, "artifactType": doc.get("artifactType", "")})
        if last:
            listed = [d for d in listed if d["digest"] > last]
        headers = {"Content-Type": OCI_INDEX}
        if self.page_size and len(listed) > self.page_size:
            listed = listed[: self.page_size]
            after = listed[-1]["digest"]
            headers["Link"] = f'</v2/{repository}/referrers/{digest}?last={after}>; rel="next"'
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}
        return httpx2.Response(200, headers=headers, content=json.dumps(index).encode())


def add_referrer(
    registry: FakeRegistry, repository: str, subject: str, artifact_type: str, payload: bytes
) -> str:
    """A manifest about `subject` (OCI 1.1 style), stored by digest only, as oras or
    cosign push one; returns its digest."""
    empty = registry.add_blob(repository, b"{}")
    layer = registry.add_blob(repository, payload)
    size = len(registry.manifests[(repository, subject)][0])
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", **_digest(empty)},
        "layers": [{"mediaType": artifact_type, **_digest(layer)}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
    }
    body = json.dumps(doc).encode()
    registry.manifests[(repository, sha(body))] = (body, OCI_MANIFEST)
    return sha(body)


def add_fallback_index(
    registry: FakeRegistry, repository: str, subject: str, entries: list[dict[str, object]]
) -> bytes:
    """The `sha256-<hex>` tag a client keeps on a registry without the referrers API."""
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    return registry.add_manifest(repository, fallback_tag(subject), index)[1]


def entry(
    registry: FakeRegistry, repository: str, digest: str, **extra: object
) -> dict[str, object]:
    body, media_type = registry.manifests[(repository, digest)]
    return {"mediaType": media_type, "digest": digest, "size": len(body), **extra}


def _digest(descriptor: Descriptor) -> dict[str, object]:
    return {"digest": descriptor.digest, "size": descriptor.size}


async def promote(client: RegistryClient, image: str, destination: str) -> Carried:
    """Copy the image to `destination`, then what refers to it."""
    source, target = ref(image), ref(destination)
    await client.copy(source, target)
    return await client.copy_referrers(source, target)


async def test_with_the_api_on_both_sides_no_fallback_tag_is_written() -> None:
    source, target = ReferrersRegistry("src.test"), ReferrersRegistry("dst.test")
    image = source.add_image("acme/web", "v1", b"app")
    signature = add_referrer(source, "acme/web", image, SIGNATURE, b"signed")
    sbom = add_referrer(source, "acme/web", image, SBOM, b'{"spdxVersion": "SPDX-2.3"}')
    async with make(Hosts(source, target)) as client:
        carried = await promote(client, f"src.test/acme/web@{image}", "dst.test/prod/web:v1")
    assert sorted(carried.referrers) == sorted([signature, sbom])
    assert (carried.copied, carried.referrers_api, carried.fallback_tag) == (2, True, "")
    for digest in (signature, sbom):
        assert target.manifests[("prod/web", digest)] == source.manifests[("acme/web", digest)]
    tags = {key for (repo, key) in target.manifests if not key.startswith("sha256:")}
    assert tags == {"v1"}  # no fallback tag, and no `latest` from a copy by digest
    assert f"GET /v2/acme/web/manifests/{fallback_tag(image)}" not in source.calls()
    assert "SBOMs carried: 2 (2 referrers, 0 cosign tags; 2 copied, 0 already" in carried.summary()
    assert "indexes referrers itself" in carried.summary()


async def test_without_the_api_the_fallback_index_is_copied_as_it_is() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    image = source.add_image("acme/web", "v1", b"app")
    signature = add_referrer(source, "acme/web", image, SIGNATURE, b"signed")
    index = add_fallback_index(
        source,
        "acme/web",
        image,
        [entry(source, "acme/web", signature, artifactType=SIGNATURE)],
    )
    async with make(Hosts(source, target)) as client:
        carried = await promote(client, f"src.test/acme/web@{image}", "dst.test/prod/web:v1")
    assert carried == Carried((signature,), {}, 1, False, fallback_tag(image))
    assert target.manifests[("prod/web", fallback_tag(image))] == (index, OCI_INDEX)
    assert ("prod/web", signature) in target.manifests
    assert ("prod/web", "latest") not in target.manifests


async def test_an_existing_fallback_index_is_merged_without_duplicates() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    image = source.add_image("acme/web", "v1", b"app")
    target.add_image("prod/web", "v1", b"app")
    ours = add_referrer(source, "acme/web", image, SIGNATURE, b"signed at the source")
    shared = add_referrer(source, "acme/web", image, SBOM, b"sbom")
    theirs = add_referrer(target, "prod/web", image, SIGNATURE, b"signed at the destination")
    add_referrer(target, "prod/web", image, SBOM, b"sbom")
    add_fallback_index(
        source,
        "acme/web",
        image,
        [
            entry(source, "acme/web", d, artifactType=t)
            for d, t in ((ours, SIGNATURE), (shared, SBOM))
        ],
    )
    kept = [
        entry(target, "prod/web", theirs, artifactType=SIGNATURE, annotations={"by": "ops"}),
        entry(target, "prod/web", shared, artifactType=SBOM),
    ]
    add_fallback_index(target, "prod/web", image, kept)
    async with make(Hosts(source, target)) as client:
        carried = await promote(client, f"src.test/acme/web@{image}", "dst.test/prod/web:v1")
    assert carried.copied == 1 and carried.fallback_tag == fallback_tag(image)
    body, media_type = target.manifests[("prod/web", fallback_tag(image))]
    merged = json.loads(body)
    assert media_type == OCI_INDEX == merged["mediaType"]
    assert merged["manifests"] == [*kept, entry(source, "acme/web", ours, artifactType=SIGNATURE)]


async def test_the_api_on_the_source_only_writes_a_fallback_index_at_the_destination() -> None:
    source, target = ReferrersRegistry("src.test", page_size=1), FakeRegistry("dst.test")
    image = source.add_image("acme/web", "v1", b"app")
    referrers = {add_referrer(source, "acme/web", image, SBOM, bytes([n])) for n in range(3)}
    async with make(Hosts(source, target)) as client:
        carried = await promote(client, f"src.test/acme/web@{image}", "dst.test/prod/web:v1")
    assert set(carried.referrers) == referrers  # three pages, following Link
    assert len([c for c in source.calls("GET") if "/referrers/" in c]) == 3
    index = json.loads(target.manifests[("prod/web", fallback_tag(image))][0])
    assert [d["digest"] for d in index["manifests"]] == list(carried.referrers)
    assert {d["artifactType"] for d in index["manifests"]} == {SBOM}


@pytest.mark.parametrize("api", [True, False])
async def test_a_repeat_writes_nothing(api: bool) -> None:
    kind = ReferrersRegistry if api else FakeRegistry
    source, target = kind("src.test"), kind("dst.test")
    image = source.add_image("acme/web", "v1", b"app")
    signature = add_referrer(source, "acme/web", image, SIGNATURE, b"signed")
    if not api:
        add_fallback_index(source, "acme/web", image, [entry(source, "acme/web", signature)])
    source.add_image("acme/web", cosign_tags(image)[0], b"cosign signature")
    async with make(Hosts(source, target)) as client:
        first = await promote(client, f"src.test/acme/web@{image}", "dst.test/prod/web:v1")
        before = len(target.log)
        again = await promote(client, f"src.test/acme/web@{image}", "dst.test/prod/web:v1")
    assert first.copied == 2 and again.copied == 0
    assert again.referrers == first.referrers and again.tags == first.tags
    assert again.fallback_tag == ""
    assert target.calls(*WRITES)[before:] == []
    assert ("up to date" in again.summary()) is not api


async def test_cosign_tags_keep_their_names_and_digests() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    image = source.add_image("acme/web", "v1", b"app")
    sig_tag, att_tag, sbom_tag = cosign_tags(image)
    assert sig_tag == f"sha256-{image.partition(':')[2]}.sig"
    signature = source.add_image("acme/web", sig_tag, b"cosign signature payload")
    attestation = source.add_image("acme/web", att_tag, b"in-toto statement")
    async with make(Hosts(source, target)) as client:
        carried = await promote(client, f"src.test/acme/web@{image}", "dst.test/mirror/web:v1")
    assert carried.tags == {sig_tag: signature, att_tag: attestation}
    assert (carried.referrers, carried.referrers_api, carried.copied) == ((), None, 2)
    for tag in (sig_tag, att_tag):
        assert target.manifests[("mirror/web", tag)] == source.manifests[("acme/web", tag)]
    assert ("mirror/web", sbom_tag) not in target.manifests
    # No referrers: the destination is not asked about its API, and no fallback tag made.
    assert not [c for c in target.calls() if "/referrers/" in c]
    assert ("mirror/web", fallback_tag(image)) not in target.manifests


async def test_nothing_to_carry() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    image = source.add_image("acme/web", "v1", b"app")
    async with make(Hosts(source, target)) as client:
        carried = await promote(client, f"src.test/acme/web@{image}", "dst.test/prod/web:v1")
    assert carried == Carried()
    assert carried.summary() == "no signatures, attestations or SBOMs to carry"


async def test_errors_name_the_referrer_and_the_status() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    image = source.add_image("acme/web", "v1", b"app")
    signature = add_referrer(source, "acme/web", image, SIGNATURE, b"signed")
    gone = "sha256:" + "0" * 64
    add_fallback_index(
        source,
        "acme/web",
        image,
        [
            entry(source, "acme/web", signature),
            {"mediaType": OCI_MANIFEST, "digest": gone, "size": 9},
        ],
    )
    async with make(Hosts(source, target)) as client:
        with pytest.raises(ManifestNotFound) as missing:
            await promote(client, f"src.test/acme/web@{image}", "dst.test/prod/web:v1")
    assert str(missing.value).startswith(f"referrer {gone} ({OCI_MANIFEST}) of src.test/")
    assert "HTTP 404" in str(missing.value)

    def refuse(request: httpx2.Request) -> httpx2.Response | None:
        if request.method == "PUT" and request.url.path.endswith(fallback_tag(image)):
            return httpx2.Response(403, json={"errors": [{"code": "DENIED", "message": "no"}]})
        return None

    add_fallback_index(source, "acme/web", image, [entry(source, "acme/web", signature)])
    target.faults.append(refuse)
    async with make(Hosts(source, target)) as client:
        with pytest.raises(RegistryAuthError, match="HTTP 403: access denied") as denied:
            await client.copy_referrers(
                ref(f"src.test/acme/web@{image}"), ref("dst.test/prod/web:v1")
            )
    assert str(denied.value).startswith(f"referrers of src.test/acme/web@{image}: ")


async def test_a_fallback_tag_that_is_not_an_index_is_refused() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    image = source.add_image("acme/web", "v1", b"app")
    source.add_image("acme/web", fallback_tag(image), b"not an index")
    async with make(Hosts(source, target)) as client:
        with pytest.raises(RegistryProtocolError, match="fallback tag holding"):
            await client.copy_referrers(
                ref(f"src.test/acme/web@{image}"), ref("dst.test/prod/web:v1")
            )


async def test_a_copy_by_digest_writes_no_tag_and_repeats_as_a_no_op() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    image = source.add_image("acme/web", "v1", b"base", b"app")
    target.add_blob("prod/web", b"base")
    async with make(Hosts(source, target)) as client:
        result = await client.copy(
            ref(f"src.test/acme/web@{image}"), ref(f"dst.test/prod/web@{image}")
        )
        before = len(target.log)
        again = await client.copy(
            ref(f"src.test/acme/web@{image}"), ref(f"dst.test/prod/web@{image}")
        )
    assert (result.digest, result.uploaded, result.skipped) == (image, 2, 1)
    assert set(target.manifests) == {("prod/web", image)}
    assert target.calls("PUT")[-1] == f"PUT /v2/prod/web/manifests/{image}"
    assert again.digest == image and target.calls(*WRITES)[before:] == []
