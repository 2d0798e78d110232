"""Listing a repository's tags (what the poller reads) against Debian's docker-registry:
every page followed, an unknown repository empty, a 429 waited out."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest

from tests.parts import FlakyProxy, ImageBuilder, Registry, push
from tidegate.registry import ImageRef, RegistryClient

pytestmark = pytest.mark.anyio


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    handle = Registry(tmp_path / "registry").start()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    return ImageBuilder(tmp_path_factory.mktemp("images")).build("app", cmd=["true"])


class PagingFront:
    """Pages a registry's tags list as distribution 3, GHCR and Harbor do (`n`, `last`
    and a `Link: <…>; rel="next"` header): Debian's Distribution 2.8 answers the whole
    list whatever `n` asks. Everything comes from the registry behind it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.pages: list[str] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                front.pages.append(self.path)
                answer = httpx2.get(f"http://{front.upstream}{url.path}", timeout=30)
                tags = sorted(answer.json()["tags"])
                size, last = int(query["n"][0]), query.get("last", [""])[0]
                page = [t for t in tags if t > last][:size]
                body = json.dumps({"name": "acme/web", "tags": page}).encode()
                self.send_response(200)
                if page and page[-1] != tags[-1]:
                    link = f"{url.path}?{urlencode({'n': size, 'last': page[-1]})}"
                    self.send_header("Link", f'<{link}>; rel="next"')
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_every_page_of_tags_is_read(registry: Registry, image: str) -> None:
    tags = ["v1", "v2", "v3", "v4", "v5"]
    for tag in tags:
        push(image, f"{registry.host}/acme/web:{tag}")
    front = PagingFront(registry.host)
    try:
        async with RegistryClient(lambda host: None) as client:
            ref = ImageRef.parse(f"{front.host}/acme/web")
            listed = await client.list_tags(ref, page_size=2)
    finally:
        front.stop()
    assert listed == tags
    assert front.pages == [
        "/v2/acme/web/tags/list?n=2",
        "/v2/acme/web/tags/list?n=2&last=v2",
        "/v2/acme/web/tags/list?n=2&last=v4",
    ]


async def test_an_unknown_repository_has_no_tags(registry: Registry) -> None:
    async with RegistryClient(lambda host: None) as client:
        assert await client.list_tags(ImageRef.parse(f"{registry.host}/acme/none")) == []


async def test_a_429_is_waited_out_as_retry_after_says(registry: Registry, image: str) -> None:
    push(image, f"{registry.host}/acme/web:v1")
    proxy = FlakyProxy(
        registry.host, fault=lambda method, path: "tags" if path.endswith("/tags/list") else None
    ).start()
    try:
        async with RegistryClient(lambda host: None) as client:
            listed = await client.list_tags(ImageRef.parse(f"{proxy.host}/acme/web"))
    finally:
        proxy.stop()
    assert listed == ["v1"]
    assert proxy.failed == ["GET /v2/acme/web/tags/list?n=1000"]  # answered 429, then again
