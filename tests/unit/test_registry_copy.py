"""Blobs, uploads and copies against an in-memory registry (tests/fakeregistry.py) that
follows the distribution API (uploads, chunks, mounts), and scope building for tokens."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx2
import pytest

from tests.fakeregistry import (
    FakeRegistry,
    Hosts,
    Unbuffered,
    make,
    ref,
    registry_error,
    sha,
)
from tidegate.registry import (
    Credentials,
    InvalidReference,
    RegistryAuth,
    RegistryClient,
    RegistryProtocolError,
    RegistryUnreachable,
)
from tidegate.registry.copying import CopyResult
from tidegate.registry.errors import BlobNotFound, ManifestNotFound
from tidegate.registry.manifest_io import Manifest
from tidegate.registry.manifest_memory import ManifestMemory
from tidegate.registry.manifests import (
    DOCKER_SCHEMA1_SIGNED,
    OCI_INDEX,
    OCI_MANIFEST,
    ManifestFormatError,
    references,
)
from tidegate.registry.scopes import covers, merge_scopes, scope_for
from tidegate.registry.sightings import BlobSightings

pytestmark = pytest.mark.anyio


async def chunks_of(data: bytes, size: int = 3) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


# Scopes


@pytest.mark.parametrize(
    ("method", "path", "mount_from", "scope"),
    [
        ("POST", "/v2/acme/prod/blobs/uploads/", "", "repository:acme/prod:pull,push"),
        (
            "POST",
            "/v2/acme/prod/blobs/uploads/",
            "acme/web",
            "repository:acme/prod:pull,push repository:acme/web:pull",
        ),
        ("PATCH", "/v2/acme/prod/blobs/uploads/u1", "acme/web", "repository:acme/prod:pull,push"),
        ("HEAD", "/v2/acme/prod/blobs/sha256:ab", "", "repository:acme/prod:pull"),
    ],
)
def test_scope_for_a_mount_names_the_source(
    method: str, path: str, mount_from: str, scope: str
) -> None:
    assert scope_for(method, path, mount_from) == scope


def test_merge_scopes_and_covers() -> None:
    merged = merge_scopes(
        "repository:b:push,pull", "repository:a:pull", "repository:b:pull", "registry:catalog:*"
    )
    assert merged == "registry:catalog:* repository:a:pull repository:b:pull,push"
    assert merge_scopes("", "repository:a:pull") == "repository:a:pull"
    assert covers(merged, "repository:b:pull")
    assert covers(merged, "repository:a:pull repository:b:push")
    assert not covers(merged, "repository:a:push")
    assert not covers("repository:a:pull", "repository:c:pull")


async def test_mount_token_names_both_scopes_in_one_request_and_serves_the_push() -> None:
    token_requests: list[dict[str, list[str]]] = []
    granted: dict[str, str] = {}

    async def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.host == "auth.test":
            token_requests.append(parse_qs(request.url.query.decode()))
            token = f"t{len(token_requests)}"
            granted[f"Bearer {token}"] = " ".join(token_requests[-1]["scope"])
            return httpx2.Response(200, json={"token": token, "expires_in": 300})
        needed = scope_for(request.method, request.url.path, request.url.params.get("from", ""))
        if not covers(granted.get(request.headers.get("authorization", ""), ""), needed):
            challenge = f'Bearer realm="https://auth.test/token",service="reg",scope="{needed}"'
            return httpx2.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx2.Response(201 if request.method == "POST" else 200)

    auth = RegistryAuth(lambda host: Credentials("u", "p"))
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler), auth=auth) as http:
        mount = "https://registry.test/v2/acme/prod/blobs/uploads/?mount=sha256:aa&from=acme/web"
        assert (await http.post(mount)).status_code == 201
        assert (await http.put("https://registry.test/v2/acme/prod/manifests/v1")).is_success
        assert (await http.head("https://registry.test/v2/acme/prod/blobs/x")).is_success
    assert token_requests == [
        {
            "service": ["reg"],
            "scope": ["repository:acme/prod:pull,push", "repository:acme/web:pull"],
            "account": ["u"],
        }
    ]


async def test_requests_refused_together_share_one_token_request() -> None:
    issued = 0

    async def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal issued
        if request.url.host == "auth.test":
            issued += 1
            await asyncio.sleep(0.01)
            return httpx2.Response(200, json={"token": "t", "expires_in": 300})
        if request.headers.get("authorization") != "Bearer t":
            challenge = 'Bearer realm="https://auth.test/token",service="reg"'
            return httpx2.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx2.Response(200)

    auth = RegistryAuth(lambda host: None)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler), auth=auth) as http:
        url = "https://registry.test/v2/acme/web/blobs/sha256:{}"
        answers = await asyncio.gather(*(http.head(url.format(i)) for i in range(5)))
    assert [a.status_code for a in answers] == [200] * 5
    assert issued == 1


# Blobs


async def test_small_blob_is_one_put_and_progress_adds_up() -> None:
    registry = FakeRegistry()
    data = b"0123456789"
    progress: list[int] = []
    async with make(registry, chunk_size=10) as client:
        target = ref(f"registry.test/acme/web@{sha(data)}")
        assert not await client.blob_exists(target)
        await client.push_blob(target, chunks_of(data), len(data), on_progress=progress.append)
        assert await client.blob_exists(target)
    assert registry.calls("POST", "PUT", "PATCH") == [
        "POST /v2/acme/web/blobs/uploads/",
        f"PUT /v2/acme/web/blobs/uploads/u0?_state=0&digest={sha(data).replace(':', '%3A')}",
    ]
    put = registry.requests[-2]
    assert put.headers["content-length"] == "10"
    assert sum(progress) == 10 and all(n > 0 for n in progress)


async def test_large_blob_goes_in_chunks_following_each_location() -> None:
    registry = FakeRegistry()
    data = bytes(range(256)) * 4 + b"tail"  # 1028 bytes
    progress: list[int] = []
    async with make(registry, chunk_size=400) as client:
        target = ref(f"registry.test/acme/web@{sha(data)}")
        await client.push_blob(target, chunks_of(data, 7), len(data), on_progress=progress.append)
    patches = [r for r in registry.requests if r.method == "PATCH"]
    assert [(r.headers["content-range"], r.headers["content-length"]) for r in patches] == [
        ("0-399", "400"),
        ("400-799", "400"),
        ("800-1027", "228"),
    ]
    assert [r.url.params["_state"] for r in patches] == ["0", "400", "800"]
    final = registry.requests[-1]
    assert (final.method, final.url.params["_state"], final.content) == ("PUT", "1028", b"")
    assert registry.blobs["acme/web"][sha(data)] == data
    assert sum(progress) == len(data)


@pytest.mark.parametrize("chunk_size", [4, 1000], ids=["chunked", "monolithic"])
async def test_wrong_bytes_never_complete_an_upload(chunk_size: int) -> None:
    registry = FakeRegistry()
    data = b"the real bytes"
    async with make(registry, chunk_size=chunk_size) as client:
        target = ref(f"registry.test/acme/web@{sha(data)}")
        with pytest.raises(RegistryProtocolError) as caught:
            await client.push_blob(target, chunks_of(b"other bytes!!!"), len(data))
    assert str(caught.value).startswith(f"registry.test/acme/web@{sha(data)}: blob bytes hash to")
    assert "acme/web" not in registry.blobs
    assert registry.calls("DELETE") and not registry.uploads  # the upload was abandoned


async def test_blob_download_follows_a_redirect_without_our_authorization() -> None:
    registry = FakeRegistry()
    data = b"layer bytes"
    registry.add_blob("acme/web", data)
    storage: list[httpx2.Request] = []

    def redirect(digest: str, _: bytes) -> httpx2.Response:
        location = f"https://storage.test/blobs/{digest}?X-Amz-Signature=secret"
        return httpx2.Response(307, headers={"Location": location})

    def serve(request: httpx2.Request) -> httpx2.Response:
        storage.append(request)
        return httpx2.Response(200, content=data)

    registry.serve_blob = redirect
    hosts = Hosts(registry)
    hosts.routes["storage.test"] = serve
    # Basic up front: the registry asked for it before.
    creds = Credentials("alice", "s3cret")
    async with make(hosts, creds=creds) as client:
        auth = client._session._http.auth
        assert isinstance(auth, RegistryAuth)
        auth._basic["registry.test"] = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        async with client.open_blob(ref(f"registry.test/acme/web@{sha(data)}")) as chunks:
            got = b"".join([c async for c in chunks])
    assert got == data
    assert registry.requests[0].headers["authorization"].startswith("Basic ")
    assert "authorization" not in storage[0].headers


async def test_redirect_to_plain_http_elsewhere_is_refused_without_its_query() -> None:
    registry = FakeRegistry()
    registry.add_blob("acme/web", b"x")
    registry.serve_blob = lambda digest, _: httpx2.Response(
        302, headers={"Location": "http://storage.test/b?sig=secret"}
    )
    async with make(registry) as client:
        with pytest.raises(RegistryProtocolError) as caught:
            async with client.open_blob(ref(f"registry.test/acme/web@{sha(b'x')}")):
                pass
    assert "redirect to http://storage.test refused" in str(caught.value)
    assert "secret" not in str(caught.value)


async def test_missing_blob_is_blob_not_found() -> None:
    async with make(FakeRegistry()) as client:
        with pytest.raises(BlobNotFound) as caught:
            async with client.open_blob(ref(f"registry.test/acme/web@{sha(b'none')}")):
                pass
    assert str(caught.value) == (
        f"registry.test/acme/web@{sha(b'none')}: HTTP 404: blob not found (blob unknown)"
    )


# Copies


async def test_retag_is_one_manifest_put() -> None:
    registry = FakeRegistry()
    digest = registry.add_image("acme/web", "v1", b"layer")
    async with make(registry) as client:
        result = await client.copy(
            ref(f"registry.test/acme/web@{digest}"), ref("registry.test/acme/web:prod")
        )
    assert result == CopyResult(digest, OCI_MANIFEST)
    assert registry.calls() == [
        f"GET /v2/acme/web/manifests/{digest}",
        "HEAD /v2/acme/web/manifests/prod",
        "PUT /v2/acme/web/manifests/prod",
    ]
    assert registry.manifests[("acme/web", "prod")] == registry.manifests[("acme/web", digest)]


async def test_same_registry_mounts_and_falls_back_to_a_copy() -> None:
    registry = FakeRegistry()
    digest = registry.add_image("acme/web", "v1", b"layer one", b"layer two")
    # One layer the source repository lacks (e.g. garbage-collected there, as a mount
    # would find it): the registry opens an upload instead, and the bytes come from
    # wherever the source serves them.
    lost = sha(b"layer two")
    del registry.blobs["acme/web"][lost]
    registry.blobs["acme/web-cache"] = {lost: b"layer two"}
    registry.faults.append(
        lambda r: (
            httpx2.Response(200, content=b"layer two")
            if r.method == "GET" and r.url.path == f"/v2/acme/web/blobs/{lost}"
            else None
        )
    )
    async with make(registry) as client:
        result = await client.copy(
            ref(f"registry.test/acme/web@{digest}"), ref("registry.test/acme/prod:v1")
        )
    assert (result.mounted, result.uploaded, result.bytes) == (2, 1, len(b"layer two"))
    mounts = [p for m, p, s in registry.log if "mount=" in p]
    assert len(mounts) == 3 and all("from=acme%2Fweb" in p for p in mounts)
    assert registry.manifests[("acme/prod", "v1")][0] == registry.manifests[("acme/web", "v1")][0]


async def test_cross_registry_copy_skips_what_is_there_and_repeats_as_a_no_op() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    digest = source.add_image("acme/web", "v1", b"shared base", b"app")
    target.add_blob("mirror/web", b"shared base")
    progress: list[int] = []
    async with make(Hosts(source, target)) as client:
        pinned = ref(f"src.test/acme/web@{digest}")
        result = await client.copy(
            pinned, ref("dst.test/mirror/web:v1"), on_progress=progress.append
        )
        config_size = len(
            source.blobs["acme/web"][
                json.loads(source.manifests[("acme/web", digest)][0])["config"]["digest"]
            ]
        )
        assert result == CopyResult(
            digest, OCI_MANIFEST, uploaded=2, skipped=1, bytes=config_size + len(b"app")
        )
        assert sum(progress) == result.bytes
        before = len(target.log)
        again = await client.copy(pinned, ref("dst.test/mirror/web:v1"))
    assert again == CopyResult(digest, OCI_MANIFEST)
    # The tag already names the digest: the blob checks made meanwhile find every blob
    # there, and nothing is written.
    later = target.calls()[before:]
    assert "HEAD /v2/mirror/web/manifests/v1" in later
    assert {c.split()[0] for c in later} == {"HEAD"}


async def test_a_later_copy_into_the_registry_mounts_where_an_earlier_one_left_blobs() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    digest = source.add_image("acme/web", "v1", b"base", b"app")
    pinned = ref(f"src.test/acme/web@{digest}")
    async with make(Hosts(source, target)) as client:
        first = await client.copy(pinned, ref("dst.test/mirror/one:v1"))
        before = len(target.log)
        second = await client.copy(pinned, ref("dst.test/mirror/two:v1"))
    assert (first.uploaded, first.mounted) == (3, 0)
    assert (second.uploaded, second.mounted, second.bytes) == (0, 3, 0)
    posts = target.calls("POST")[-3:]
    assert all("from=mirror%2Fone" in p for p in posts)
    assert not [c for c in target.calls("PUT", "PATCH")[before:] if "/blobs/" in c]
    assert target.manifests[("mirror/two", "v1")] == source.manifests[("acme/web", "v1")]


async def test_a_stale_sighting_costs_nothing_and_is_forgotten() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    digest = source.add_image("acme/web", "v1", b"base", b"app")
    pinned = ref(f"src.test/acme/web@{digest}")
    sightings = BlobSightings()
    async with make(Hosts(source, target), sightings=sightings) as client:
        await client.copy(pinned, ref("dst.test/mirror/one:v1"))
        del target.blobs["mirror/one"]  # garbage-collected since
        before = len(target.log)
        again = await client.copy(pinned, ref("dst.test/mirror/two:v1"))
    # Each refused mount opened the upload the bytes then went to: no extra request.
    assert (again.mounted, again.uploaded) == (0, 3)
    later = target.log[before:]
    assert [s for m, p, s in later if m == "POST" and "from=mirror%2Fone" in p] == [202] * 3
    assert not [p for m, p, _ in later if m in ("DELETE", "HEAD") and "/blobs/" in p]
    blob = sha(b"app")
    assert sightings.where("dst.test", blob, besides="elsewhere") == "mirror/two"
    assert sightings.where("dst.test", blob, besides="mirror/two") is None


async def test_a_source_failing_abandons_the_upload_opened_meanwhile() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    digest = source.add_image("acme/web", "v1", b"the layer")
    del source.blobs["acme/web"][sha(b"the layer")]
    async with make(Hosts(source, target), concurrency=1) as client:
        with pytest.raises(BlobNotFound, match="src.test/acme/web@sha256:"):
            await client.copy(ref(f"src.test/acme/web@{digest}"), ref("dst.test/acme/web:v1"))
    assert not target.uploads  # opened alongside the download, then given up
    assert ("acme/web", "v1") not in target.manifests


async def test_a_manifest_read_once_is_only_checked_for_on_the_next_copy() -> None:
    registry = FakeRegistry()
    digest = registry.add_image("acme/web", "v1", b"layer")
    pinned = ref(f"registry.test/acme/web@{digest}")
    async with make(registry, manifests=ManifestMemory()) as client:
        await client.copy(pinned, ref("registry.test/acme/web:staging"))
        before = len(registry.log)
        await client.copy(pinned, ref("registry.test/acme/web:production"))
    later = registry.calls()[before:]
    assert f"GET /v2/acme/web/manifests/{digest}" not in later
    assert f"HEAD /v2/acme/web/manifests/{digest}" in later  # still there?
    assert (
        registry.manifests[("acme/web", "production")][0]
        == registry.manifests[("acme/web", digest)][0]
    )


async def test_a_manifest_gone_from_the_source_is_not_promoted_from_memory() -> None:
    registry = FakeRegistry()
    digest = registry.add_image("acme/web", "v1", b"layer")
    pinned = ref(f"registry.test/acme/web@{digest}")
    async with make(registry, manifests=ManifestMemory()) as client:
        await client.copy(pinned, ref("registry.test/acme/web:staging"))
        del registry.manifests[("acme/web", digest)]  # deleted: found vulnerable, say
        with pytest.raises(ManifestNotFound, match="gone from the source"):
            await client.copy(pinned, ref("registry.test/mirror/web:production"))
    assert ("mirror/web", "production") not in registry.manifests


def test_manifest_memory_is_bounded_by_bytes() -> None:
    memory = ManifestMemory(max_bytes=10)
    first = Manifest(b"123456", "m", sha(b"123456"))
    second = Manifest(b"abcdef", "m", sha(b"abcdef"))
    memory.keep(ref("Reg.test/a@" + first.digest), first)
    assert memory.get(ref("reg.test/a@" + first.digest)) == first
    assert memory.get(ref("reg.test/b@" + first.digest)) is None  # another repository
    memory.keep(ref("reg.test/a@" + second.digest), second)  # 12 bytes > 10: first goes
    assert memory.get(ref("reg.test/a@" + first.digest)) is None
    assert memory.get(ref("reg.test/a@" + second.digest)) == second


async def test_keep_existing_moves_nothing_onto_a_tag_that_names_another_image() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    digest = source.add_image("acme/web", "v1", b"new app")
    other = target.add_image("acme/web", "production", b"old app")
    before = len(target.log)
    async with make(Hosts(source, target)) as client:
        kept = await client.copy(
            ref(f"src.test/acme/web@{digest}"),
            ref("dst.test/acme/web:production"),
            keep_existing=True,
        )
        assert (kept.digest, kept.previous) == (digest, other)
        # The tag is asked first: no blob is looked at, nothing is written.
        assert target.calls()[before:] == ["HEAD /v2/acme/web/manifests/production"]
        moved = await client.copy(
            ref(f"src.test/acme/web@{digest}"), ref("dst.test/acme/web:production")
        )
    assert (moved.previous, moved.uploaded, moved.skipped) == (other, 1, 1)  # same config
    assert target.manifests[("acme/web", "production")] == source.manifests[("acme/web", "v1")]


def test_blob_sightings_are_bounded_and_most_recent_first() -> None:
    seen = BlobSightings(max_blobs=2)
    seen.seen("Reg.test", "a", "sha256:1")
    seen.seen("reg.test", "b", "sha256:1")
    assert seen.where("reg.test", "sha256:1", besides="x") == "b"
    assert seen.where("reg.test", "sha256:1", besides="b") == "a"
    seen.forget("reg.test", "b", "sha256:1")
    assert seen.where("reg.test", "sha256:1", besides="x") == "a"
    seen.seen("reg.test", "a", "sha256:2")
    seen.seen("reg.test", "a", "sha256:3")  # the least recently seen blob drops out
    assert seen.where("reg.test", "sha256:1", besides="x") is None
    assert seen.where("reg.test", "sha256:3", besides="x") == "a"


async def test_index_copies_children_first_and_each_shared_blob_once() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    amd64 = source.add_image("acme/web", "amd64", b"base", b"amd64 app")
    arm64 = source.add_image("acme/web", "arm64", b"base", b"arm64 app")
    children = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": d,
            "size": len(source.manifests[("acme/web", d)][0]),
            "platform": {"os": "linux", "architecture": arch},
        }
        for d, arch in ((amd64, "amd64"), (arm64, "arm64"))
    ]
    index, body = source.add_manifest(
        "acme/web", "v1", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    )
    async with make(Hosts(source, target)) as client:
        result = await client.copy(
            ref(f"src.test/acme/web@{index}"), ref("dst.test/acme/web:v1"), all_platforms=False
        )
    assert (result.digest, result.media_type, result.uploaded) == (index, OCI_INDEX, 4)
    assert target.manifests[("acme/web", "v1")] == (body, OCI_INDEX)
    puts = target.calls("PUT")
    assert puts[-1] == "PUT /v2/acme/web/manifests/v1"
    assert {p for p in puts if "/manifests/sha256" in p} == {
        f"PUT /v2/acme/web/manifests/{amd64}",
        f"PUT /v2/acme/web/manifests/{arm64}",
    }
    assert sum(1 for p in puts if f"digest={sha(b'base').replace(':', '%3A')}" in p) == 1


async def test_a_streamed_blob_is_retried_and_its_progress_taken_back(waits: list[float]) -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    digest = source.add_image("acme/web", "v1", b"x" * 100)
    failed: list[str] = []

    def fail_first_patch(request: httpx2.Request) -> httpx2.Response | None:
        if request.method == "PATCH" and not failed:
            failed.append(request.url.path)
            return registry_error(503, "UNAVAILABLE", "disk busy")
        return None

    target.faults.append(fail_first_patch)
    progress: list[int] = []
    async with make(Hosts(source, target), chunk_size=40, concurrency=1) as client:
        result = await client.copy(
            ref(f"src.test/acme/web@{digest}"),
            ref("dst.test/acme/web:v1"),
            on_progress=progress.append,
        )
    assert result.uploaded == 2 and sum(progress) == result.bytes
    assert [n for n in progress if n < 0] == [-40]  # the failed PATCH's bytes
    assert len(waits) == 1
    assert target.calls("DELETE")  # the failed upload was abandoned


async def test_errors_name_the_blob_the_status_and_the_error_code(
    waits: list[float],
) -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    digest = source.add_image("acme/web", "v1", b"layer")
    layer = sha(b"layer")
    target.faults.append(
        lambda r: (
            registry_error(500, "UNKNOWN", "disk full")
            if r.method == "POST" and "uploads" in r.url.path
            else None
        )
    )
    async with make(Hosts(source, target), attempts=2) as client:
        with pytest.raises(RegistryUnreachable) as caught:
            await client.copy(ref(f"src.test/acme/web@{digest}"), ref("dst.test/acme/web:v1"))
    message = str(caught.value)
    assert message.startswith("dst.test/acme/web@sha256:")
    assert message.endswith("HTTP 500: registry unavailable (unknown)")
    assert "disk full" not in message  # the registry's words stay out
    assert caught.value.reference in (layer, sha(b'{"architecture":"amd64","os":"linux"}'))


@pytest.mark.parametrize("chunk_size", [4, 1000], ids=["chunked", "monolithic"])
async def test_a_source_serving_wrong_bytes_is_named_and_nothing_is_stored(
    chunk_size: int,
) -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    digest = source.add_image("acme/web", "v1", b"the layer")
    source.serve_blob = lambda d, data: httpx2.Response(200, content=data[::-1])  # tampered
    async with make(Hosts(source, target), chunk_size=chunk_size, concurrency=1) as client:
        with pytest.raises(RegistryProtocolError) as caught:
            await client.copy(ref(f"src.test/acme/web@{digest}"), ref("dst.test/acme/web:v1"))
    assert str(caught.value).startswith("src.test/acme/web@sha256:")  # the source's blob
    assert "blob bytes hash to sha256:" in str(caught.value)
    assert not target.blobs.get("acme/web") and not target.uploads
    assert ("acme/web", "v1") not in target.manifests


async def test_a_source_stalling_mid_blob_is_blamed_on_the_source_and_retried(
    waits: list[float],
) -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    digest = source.add_image("acme/web", "v1", b"y" * 50)
    stalled: list[str] = []

    class Stalling(httpx2.AsyncByteStream):
        def __init__(self, data: bytes) -> None:
            self.data = data

        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield self.data[:10]
            raise httpx2.ReadTimeout("timed out")

    def serve(digest: str, data: bytes) -> httpx2.Response:
        if len(data) == 50 and not stalled:
            stalled.append(digest)
            return httpx2.Response(200, stream=Stalling(data))
        return httpx2.Response(200, content=data)

    source.serve_blob = serve
    errors: list[str] = []
    async with make(Hosts(source, target), timeout=7) as client:
        original = client._session.pause

        async def pause(attempt: int, wait: float | None, what: str) -> None:
            errors.append(what)
            await original(attempt, wait, what)

        client._session.pause = pause  # type: ignore[method-assign]
        result = await client.copy(ref(f"src.test/acme/web@{digest}"), ref("dst.test/acme/web:v1"))
    assert result.uploaded == 2 and stalled == [sha(b"y" * 50)]
    assert errors == [f"copy of blob {sha(b'y' * 50)} to dst.test"]
    assert target.blobs["acme/web"][sha(b"y" * 50)] == b"y" * 50


async def test_a_401_in_the_middle_of_a_streamed_upload_retries_the_blob(
    waits: list[float],
) -> None:
    """A token that dies mid-copy: the auth flow gets a new one but cannot send the
    consumed body again; the blob is copied again from the start."""
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    digest = source.add_image("acme/web", "v1", b"z" * 30)
    issued: list[str] = []
    revoked: set[str] = set()
    refused: list[str] = []

    async def dst(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/token":
            issued.append(f"t{len(issued) + 1}")
            return httpx2.Response(200, json={"token": issued[-1], "expires_in": 300})
        if request.method == "PATCH" and not revoked:
            revoked.update(issued)  # the token dies while this chunk is on its way
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in issued or token in revoked:
            async for _ in request.stream:  # received, as a real server would, then refused
                pass
            refused.append(request.method)
            challenge = 'Bearer realm="https://dst.test/token",service="dst"'
            return httpx2.Response(401, headers={"WWW-Authenticate": challenge})
        return await target(request)

    hosts = Hosts(source)
    hosts.routes["dst.test"] = dst
    async with RegistryClient(
        lambda host: None, transport=Unbuffered(hosts), chunk_size=8, concurrency=1
    ) as client:
        result = await client.copy(ref(f"src.test/acme/web@{digest}"), ref("dst.test/acme/web:v1"))
    assert result.digest == digest and result.uploaded == 2
    assert "PATCH" in refused
    assert len(waits) == 1  # that blob was copied again, from the start
    assert target.blobs["acme/web"][sha(b"z" * 30)] == b"z" * 30


async def test_a_refused_mount_becomes_an_upload() -> None:
    registry = FakeRegistry()
    digest = registry.add_image("acme/web", "v1", b"layer")
    registry.faults.append(
        lambda r: (
            registry_error(403, "DENIED", "no pull on acme/web")
            if "mount" in r.url.params
            else None
        )
    )
    async with make(registry) as client:
        layer = ref(f"registry.test/acme/prod@{sha(b'layer')}")
        assert not await client.mount_blob(layer, "acme/web")
        result = await client.copy(
            ref(f"registry.test/acme/web@{digest}"), ref("registry.test/acme/prod:v1")
        )
    assert (result.mounted, result.uploaded) == (0, 2)
    assert registry.manifests[("acme/prod", "v1")][0] == registry.manifests[("acme/web", "v1")][0]


async def test_copy_needs_a_pinned_source() -> None:
    async with make(FakeRegistry()) as client:
        with pytest.raises(InvalidReference, match="pinned to a digest"):
            await client.copy(ref("registry.test/acme/web:v1"), ref("registry.test/acme/web:v2"))


async def test_a_copy_pinned_on_read_copies_the_bytes_the_tag_names() -> None:
    registry = FakeRegistry()
    digest = registry.add_image("acme/web", "v1", b"layer")
    async with make(registry) as client:
        result = await client.copy(
            ref("registry.test/acme/web:v1"), ref("registry.test/acme/web:v2"), pin_on_read=True
        )
        assert result.digest == digest
        other = registry.add_image("acme/web", "v3", b"another layer")
        with pytest.raises(InvalidReference, match=f"cannot hold {other}"):
            await client.copy(
                ref("registry.test/acme/web:v3"),
                ref(f"registry.test/acme/prod@{digest}"),
                pin_on_read=True,
            )
    assert registry.manifests[("acme/web", "v2")] == registry.manifests[("acme/web", "v1")]
    assert not any(repository == "acme/prod" for repository, _ in registry.manifests)


async def test_put_manifest_and_exists() -> None:
    registry = FakeRegistry()
    registry.add_blob("acme/web", b"{}")
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": sha(b"{}"),
            "size": 2,
        },
        "layers": [],
    }
    body = json.dumps(doc, indent=7).encode()  # exact bytes, odd indentation and all
    async with make(registry) as client:
        assert await client.exists(ref("registry.test/acme/web:v1")) is None
        digest = await client.put_manifest(ref("registry.test/acme/web:v1"), body, OCI_MANIFEST)
        assert digest == sha(body)
        assert await client.exists(ref("registry.test/acme/web:v1")) == digest
        assert await client.exists(ref(f"registry.test/acme/web@{digest}")) == digest
        with pytest.raises(InvalidReference):
            await client.put_manifest(
                ref(f"registry.test/acme/web@{sha(b'other')}"), body, OCI_MANIFEST
            )
    assert registry.manifests[("acme/web", "v1")][0] == body


async def test_copy_referrers_carries_cosign_tags() -> None:
    source, target = FakeRegistry("src.test"), FakeRegistry("dst.test")
    digest = source.add_image("acme/web", "v1", b"app")
    signature_tag = f"sha256-{digest.partition(':')[2]}.sig"
    signature = source.add_image("acme/web", signature_tag, b"cosign signature payload")
    async with make(Hosts(source, target)) as client:
        carried = await client.copy_referrers(
            ref(f"src.test/acme/web@{digest}"), ref("dst.test/mirror/web:v1")
        )
    assert carried.tags == {signature_tag: signature}
    assert ("mirror/web", signature_tag) in target.manifests


def test_references_leave_out_foreign_layers_and_refuse_schema1() -> None:
    layer = {"mediaType": "x", "digest": sha(b"a"), "size": 1}
    foreign = {**layer, "digest": sha(b"f"), "urls": ["https://mcr.example/f"]}
    doc = {"schemaVersion": 2, "config": layer, "layers": [layer, foreign]}
    found = references(json.dumps(doc).encode(), OCI_MANIFEST)
    assert [b.digest for b in found.blobs] == [sha(b"a"), sha(b"a")]
    assert found.manifests == ()
    with pytest.raises(ManifestFormatError, match="schema 1"):
        references(b"{}", DOCKER_SCHEMA1_SIGNED)
    with pytest.raises(ManifestFormatError, match="no valid size"):
        references(json.dumps({"layers": [{"digest": sha(b"a")}]}).encode(), OCI_MANIFEST)
