"""The Bearer token flow over HTTP, against a registry and token service standing in per
Docker's token auth spec (https://distribution.github.io/distribution/spec/auth/token/):
401 with `WWW-Authenticate: Bearer realm,service,scope`, a token endpoint, then 200."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tidegate.registry import (
    Credentials,
    CredentialStore,
    ImageRef,
    RegistryAuthError,
    RegistryClient,
)
from tidegate.registry.manifests import DOCKER_MANIFEST

pytestmark = pytest.mark.anyio

SCOPE = "repository:acme/web:pull"
USER, PASSWORD = "robot$ci", "s3cret:with-colon"
BODY = b'{"schemaVersion":2,"mediaType":"' + DOCKER_MANIFEST.encode() + b'","layers":[]}'
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()


class TokenRegistry:
    """Registry + token service on one server; the realm is its `/token`."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.ref = ImageRef.parse(f"{host}/acme/web:v1")
        self.issued: list[str] = []
        self.token_requests: list[tuple[dict[str, list[str]], str | None]] = []
        self.registry_auth: list[str | None] = []
        self._serial = itertools.count(1)

    def install(self, server: HTTPServer) -> None:
        server.expect_request("/token", method="GET").respond_with_handler(self.token)
        manifests = re.compile(f"/v2/acme/web/manifests/(v1|{DIGEST})")
        server.expect_request(manifests).respond_with_handler(self.manifest)

    def token(self, request: Request) -> Response:
        auth = request.headers.get("Authorization")
        self.token_requests.append(({k: request.args.getlist(k) for k in request.args}, auth))
        if request.args.get("service") != "registry.test" or request.args.get("scope") != SCOPE:
            return Response('{"details": "bad service or scope"}', 400)
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if auth is not None and auth != expected:
            return Response('{"details": "incorrect username or password"}', 401)
        token = f"token-{next(self._serial)}"
        self.issued.append(token)
        return Response(
            f'{{"token": "{token}", "access_token": "{token}", "expires_in": 300}}',
            content_type="application/json",
        )

    def manifest(self, request: Request) -> Response:
        auth = request.headers.get("Authorization")
        self.registry_auth.append(auth)
        if auth not in {f"Bearer {t}" for t in self.issued}:
            challenge = (
                f'Bearer realm="http://{self.host}/token",service="registry.test",scope="{SCOPE}"'
            )
            return Response(
                '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                401,
                headers={"WWW-Authenticate": challenge},
                content_type="application/json",
            )
        return Response(
            BODY, headers={"Docker-Content-Digest": DIGEST}, content_type=DOCKER_MANIFEST
        )


@pytest.fixture
def standin() -> Iterator[TokenRegistry]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    registry = TokenRegistry(f"127.0.0.1:{server.port}")
    registry.install(server)
    try:
        yield registry
    finally:
        server.clear()
        server.stop()


async def test_bearer_flow_with_credentials(standin: TokenRegistry) -> None:
    store = CredentialStore(given={standin.host: (USER, PASSWORD)})
    async with RegistryClient(store) as client:
        resolved = await client.resolve(standin.ref)
        assert (resolved.digest, resolved.media_type, resolved.size) == (
            DIGEST,
            DOCKER_MANIFEST,
            len(BODY),
        )
        manifest = await client.get_manifest(standin.ref.with_digest(DIGEST))
        assert manifest.content == BODY
    assert len(standin.token_requests) == 1  # the token was cached for the scope
    params, auth = standin.token_requests[0]
    assert params == {"service": ["registry.test"], "scope": [SCOPE], "account": [USER]}
    assert auth is not None and auth.startswith("Basic ")
    assert standin.registry_auth == [None, "Bearer token-1", "Bearer token-1"]


async def test_anonymous_bearer_flow(standin: TokenRegistry) -> None:
    async with RegistryClient(lambda host: None) as client:
        assert (await client.resolve(standin.ref)).digest == DIGEST
    assert [auth for _, auth in standin.token_requests] == [None]


async def test_token_service_refuses_wrong_password(standin: TokenRegistry) -> None:
    async with RegistryClient(lambda host: Credentials(USER, "wrong")) as client:
        with pytest.raises(RegistryAuthError) as caught:
            await client.resolve(standin.ref)
    error = caught.value
    assert error.status == 401
    assert str(error) == (
        f"{standin.host}/acme/web:v1: HTTP 401: token service {standin.host} refused user {USER!r}"
    )  # not the service's words ("incorrect username or password")
    assert standin.registry_auth == [None]  # never retried without a token
