"""A registry in memory for the registry client's unit tests: it follows the
distribution API (manifests, blobs, upload sessions that take a PUT or PATCHes, mounts)
and answers through httpx2.MockTransport, so a test reads what was asked of it."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2

from tidegate.registry import ImageRef, RegistryClient
from tidegate.registry.manifests import OCI_MANIFEST, Descriptor, references

Fault = Callable[[httpx2.Request], httpx2.Response | None]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class FakeRegistry:
    """One registry host in memory: manifests and blobs per repository, upload sessions
    that take a PUT or PATCHes (distribution's Content-Range form), and mounts."""

    host: str = "registry.test"
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    blobs: dict[str, dict[str, bytes]] = field(default_factory=dict)
    uploads: dict[str, tuple[str, bytearray]] = field(default_factory=dict)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    requests: list[httpx2.Request] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    serve_blob: Callable[[str, bytes], httpx2.Response] | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def add_blob(self, repository: str, data: bytes) -> Descriptor:
        self.blobs.setdefault(repository, {})[sha(data)] = data
        return Descriptor("application/octet-stream", sha(data), len(data))

    def add_manifest(self, repository: str, tag: str, doc: dict[str, object]) -> tuple[str, bytes]:
        body = json.dumps(doc, indent=1).encode()
        media_type = str(doc["mediaType"])
        self.manifests[(repository, sha(body))] = (body, media_type)
        self.manifests[(repository, tag)] = (body, media_type)
        return sha(body), body

    def add_image(self, repository: str, tag: str, *layers: bytes) -> str:
        config = self.add_blob(repository, b'{"architecture":"amd64","os":"linux"}')
        descriptors = [self.add_blob(repository, layer) for layer in layers]
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor_json(config),
            "layers": [descriptor_json(d) for d in descriptors],
        }
        return self.add_manifest(repository, tag, doc)[0]

    def calls(self, *methods: str) -> list[str]:
        return [f"{m} {p}" for m, p, _ in self.log if not methods or m in methods]

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        self.requests.append(request)
        response = next((r for f in self.faults if (r := f(request)) is not None), None)
        response = response or self._route(request)
        path = request.url.path + (f"?{request.url.query.decode()}" if request.url.query else "")
        self.log.append((request.method, path, response.status_code))
        return response

    def _route(self, request: httpx2.Request) -> httpx2.Response:
        path, method = request.url.path, request.method
        if m := re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", path):
            return self._manifest(method, m.group(1), m.group(2), request.content)
        if m := re.fullmatch(r"/v2/(.+)/blobs/uploads/([^/]*)", path):
            return self._upload(request, m.group(1), m.group(2))
        if m := re.fullmatch(r"/v2/(.+)/blobs/([^/]+)", path):
            data = self.blobs.get(m.group(1), {}).get(m.group(2))
            if data is None:
                return registry_error(404, "BLOB_UNKNOWN", "blob unknown to registry")
            if method == "GET" and self.serve_blob is not None:
                return self.serve_blob(m.group(2), data)
            headers = {"Content-Length": str(len(data)), "Docker-Content-Digest": m.group(2)}
            return httpx2.Response(200, headers=headers, content=data if method == "GET" else b"")
        return registry_error(404, "NOT_FOUND", "no route")

    def _manifest(self, method: str, repository: str, ref: str, body: bytes) -> httpx2.Response:
        if method == "PUT":
            doc = json.loads(body)
            found = self.blobs.get(repository, {})
            wanted = references(body, doc["mediaType"])
            if any(b.digest not in found for b in wanted.blobs) or any(
                (repository, c.digest) not in self.manifests for c in wanted.manifests
            ):
                return registry_error(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry")
            self.manifests[(repository, ref)] = (body, doc["mediaType"])
            self.manifests[(repository, sha(body))] = (body, doc["mediaType"])
            return httpx2.Response(201, headers={"Docker-Content-Digest": sha(body)})
        stored = self.manifests.get((repository, ref))
        if stored is None:
            return registry_error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        content, media_type = stored
        headers = {
            "Content-Type": media_type,
            "Docker-Content-Digest": sha(content),
            "Content-Length": str(len(content)),
        }
        return httpx2.Response(200, headers=headers, content=content if method == "GET" else b"")

    def _upload(self, request: httpx2.Request, repository: str, uid: str) -> httpx2.Response:
        params = request.url.params
        if request.method == "POST":
            mount, source = params.get("mount"), params.get("from")
            if mount and source and mount in self.blobs.get(source, {}):
                self.blobs.setdefault(repository, {})[mount] = self.blobs[source][mount]
                return httpx2.Response(201, headers={"Docker-Content-Digest": mount})
            uid = f"u{next(self._ids)}"
            self.uploads[uid] = (repository, bytearray())
            return self._progress(202, repository, uid)
        if uid not in self.uploads:
            return registry_error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown")
        if request.method == "DELETE":
            del self.uploads[uid]
            return httpx2.Response(204)
        _, data = self.uploads[uid]
        if request.method == "PATCH":
            start, end = map(int, request.headers["content-range"].split("-"))
            if start != len(data) or end - start + 1 != len(request.content):
                return registry_error(416, "BLOB_UPLOAD_INVALID", "bad range")
            data += request.content
            return self._progress(202, repository, uid)
        data += request.content  # PUT: the last bytes, if any, then the digest
        if sha(bytes(data)) != params.get("digest"):
            return registry_error(400, "DIGEST_INVALID", "provided digest did not match")
        del self.uploads[uid]
        self.blobs.setdefault(repository, {})[sha(bytes(data))] = bytes(data)
        return httpx2.Response(201, headers={"Docker-Content-Digest": sha(bytes(data))})

    def _progress(self, status: int, repository: str, uid: str) -> httpx2.Response:
        size = len(self.uploads[uid][1])
        # A fresh query each time, as distribution's _state: the next step must use it.
        location = f"/v2/{repository}/blobs/uploads/{uid}?_state={size}"
        return httpx2.Response(
            status, headers={"Location": location, "Range": f"0-{max(size - 1, 0)}"}
        )


class Hosts:
    """Routes requests by host to fake registries (and other handlers)."""

    def __init__(self, *registries: FakeRegistry) -> None:
        self.routes: dict[str, Callable[[httpx2.Request], object]] = {r.host: r for r in registries}

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        handler = self.routes[request.url.netloc.decode()]
        answer = handler(request)
        if not isinstance(answer, httpx2.Response):
            answer = await answer  # type: ignore[misc]
        return answer


class Unbuffered(httpx2.AsyncBaseTransport):
    """Like MockTransport, but a request's streamed body is not read up front (which
    would make it replayable): the handler reads it, once, as a server would."""

    def __init__(self, handler: Hosts) -> None:
        self.handler = handler

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self.handler(request)


def descriptor_json(d: Descriptor) -> dict[str, object]:
    return {"mediaType": d.media_type, "digest": d.digest, "size": d.size}


def registry_error(status: int, code: str, message: str) -> httpx2.Response:
    return httpx2.Response(status, json={"errors": [{"code": code, "message": message}]})


def make(handler: object, **kw: object) -> RegistryClient:
    kw.setdefault("backoff", 0.001)
    creds = kw.pop("creds", None)
    return RegistryClient(
        lambda host: creds,  # type: ignore[arg-type,return-value]
        transport=httpx2.MockTransport(handler),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def ref(text: str) -> ImageRef:
    return ImageRef.parse(text)
