"""The registry auth flow (Basic, Bearer token spec) against httpx2.MockTransport."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx2
import pytest

from tidegate.registry import (
    Credentials,
    RegistryAuth,
    RegistryAuthError,
    RegistryProtocolError,
    RegistryUnreachable,
)
from tidegate.registry.auth import pick_challenge, scope_for

pytestmark = pytest.mark.anyio

MANIFEST = "https://registry.test/v2/acme/web/manifests/v1"
SCOPE = "repository:acme/web:pull"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class TokenRegistry:
    """A registry at registry.test whose token service lives at `realm`."""

    realm: str = "https://auth.test/token"
    users: dict[str, str] = field(default_factory=lambda: {"alice": "s3cret"})
    token_body: Callable[[int], dict[str, object]] = lambda n: {
        "token": f"tok-{n}",
        "expires_in": 300,
    }
    token_status: int = 200
    issued: int = 0
    revoked: int = 0  # tokens up to this number are no longer accepted
    seen: list[httpx2.Request] = field(default_factory=list)
    # The flow re-sends one Request object, so headers are copied as they went out.
    auths: list[str | None] = field(default_factory=list)

    def challenge(self) -> str:
        return f'Bearer realm="{self.realm}",service="registry.test",scope="{SCOPE}"'

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(request)
        self.auths.append(request.headers.get("authorization"))
        if str(request.url).startswith(self.realm):
            return self.token(request)
        valid = {f"Bearer tok-{n}" for n in range(self.revoked + 1, self.issued + 1)}
        if request.headers.get("authorization") not in valid:
            return httpx2.Response(401, headers={"WWW-Authenticate": self.challenge()})
        return httpx2.Response(200, content=b"{}")

    def token(self, request: httpx2.Request) -> httpx2.Response:
        auth = request.headers.get("authorization")
        if auth is not None and auth not in {basic(u, p) for u, p in self.users.items()}:
            return httpx2.Response(401, json={"details": "incorrect username or password"})
        if self.token_status != 200:
            return httpx2.Response(self.token_status, headers={"Retry-After": "7"})
        self.issued += 1
        return httpx2.Response(200, json=self.token_body(self.issued))

    def urls(self) -> list[str]:
        return [f"{r.method} {r.url.copy_with(query=None)}" for r in self.seen]


def client(
    handler: Callable[[httpx2.Request], httpx2.Response],
    creds: Credentials | None = None,
    **kw: object,
) -> httpx2.AsyncClient:
    asked: list[str] = []

    def credentials_for(host: str) -> Credentials | None:
        asked.append(host)
        return creds

    auth = RegistryAuth(credentials_for, **kw)  # type: ignore[arg-type]
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler), auth=auth, timeout=7)
    http.asked = asked  # type: ignore[attr-defined]
    return http


async def test_basic_challenge_then_basic_up_front() -> None:
    seen: list[str | None] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers.get("authorization"))
        if request.headers.get("authorization") == basic("alice", "s3cret"):
            return httpx2.Response(200)
        return httpx2.Response(401, headers={"WWW-Authenticate": 'Basic realm="test"'})

    async with client(handler, Credentials("alice", "s3cret")) as http:
        assert (await http.head(MANIFEST)).status_code == 200
        assert seen == [None, basic("alice", "s3cret")]
        assert (await http.head(MANIFEST)).status_code == 200
        assert seen[2:] == [basic("alice", "s3cret")]  # remembered: no second challenge


async def test_basic_challenge_without_credentials_returns_the_401() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(401, headers={"WWW-Authenticate": 'Basic realm="test"'})

    async with client(handler) as http:
        assert (await http.get(MANIFEST)).status_code == 401


async def test_wrong_basic_credentials_are_tried_once() -> None:
    calls: list[str | None] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.headers.get("authorization"))
        return httpx2.Response(401, headers={"WWW-Authenticate": 'Basic realm="test"'})

    async with client(handler, Credentials("alice", "wrong")) as http:
        assert (await http.get(MANIFEST)).status_code == 401
        assert (await http.get(MANIFEST)).status_code == 401
    assert calls == [None, basic("alice", "wrong"), basic("alice", "wrong")]


async def test_bearer_flow_with_token_cache_and_expiry() -> None:
    registry, clock = TokenRegistry(), Clock()
    async with client(registry, Credentials("alice", "s3cret"), clock=clock) as http:
        assert (await http.head(MANIFEST)).status_code == 200
        assert registry.urls() == [
            f"HEAD {MANIFEST}",
            "GET https://auth.test/token",  # the realm on its own host
            f"HEAD {MANIFEST}",
        ]
        token_request = registry.seen[1]
        assert parse_qs(token_request.url.query.decode()) == {
            "service": ["registry.test"],
            "scope": [SCOPE],
            "account": ["alice"],
        }
        assert registry.auths[1] == basic("alice", "s3cret")
        assert registry.auths[2] == "Bearer tok-1"
        assert http.asked == ["registry.test"]  # type: ignore[attr-defined]

        # Cache hit: the second request carries the token straight away.
        assert (await http.get(MANIFEST)).status_code == 200
        assert registry.urls()[3:] == [f"GET {MANIFEST}"]
        assert registry.auths[3] == "Bearer tok-1"

        # Renewed before expires_in (300 s) runs out: a margin before it.
        clock.now += 295
        assert (await http.get(MANIFEST)).status_code == 200
        assert registry.urls()[4:] == [
            f"GET {MANIFEST}",
            "GET https://auth.test/token",
            f"GET {MANIFEST}",
        ]
        assert registry.auths[4] is None  # the expired token is not sent
        assert registry.auths[6] == "Bearer tok-2"


async def test_anonymous_bearer_access_token_and_default_expiry() -> None:
    registry, clock = TokenRegistry(token_body=lambda n: {"access_token": f"tok-{n}"}), Clock()
    async with client(registry, None, clock=clock) as http:
        assert (await http.get(MANIFEST)).status_code == 200
        token_request = registry.seen[1]
        assert registry.auths[1] is None
        assert "account" not in parse_qs(token_request.url.query.decode())
        clock.now += 49  # expires_in defaults to 60 s, renewed 10 s early
        await http.get(MANIFEST)
        assert len(registry.seen) == 4
        clock.now += 2
        await http.get(MANIFEST)
        assert registry.issued == 2


async def test_revoked_cached_token_is_replaced_once() -> None:
    registry = TokenRegistry()
    async with client(registry, Credentials("alice", "s3cret")) as http:
        await http.get(MANIFEST)
        registry.revoked = registry.issued  # the registry forgets every token it issued
        response = await http.get(MANIFEST)
    assert response.status_code == 200
    assert registry.auths[3:] == ["Bearer tok-1", basic("alice", "s3cret"), "Bearer tok-2"]
    assert registry.urls()[3:] == [
        f"GET {MANIFEST}",
        "GET https://auth.test/token",
        f"GET {MANIFEST}",
    ]


async def test_token_service_refusal_names_the_status_not_the_password() -> None:
    registry = TokenRegistry()
    async with client(registry, Credentials("alice", "wrong-pass")) as http:
        with pytest.raises(RegistryAuthError) as caught:
            await http.get(MANIFEST)
    error = caught.value
    assert error.status == 401
    assert str(error).endswith("token service auth.test refused user 'alice'")
    assert "incorrect username or password" not in str(error)  # the service's words
    assert "wrong-pass" not in str(error)


async def test_token_service_unavailable_carries_retry_after() -> None:
    registry = TokenRegistry(token_status=503)
    async with client(registry) as http:
        with pytest.raises(RegistryUnreachable) as caught:
            await http.get(MANIFEST)
    assert (caught.value.status, caught.value.retry_after) == (503, 7.0)


@pytest.mark.parametrize("body", [{"tok": "x"}, {"token": ""}, {"token": 5}, ["token"]], ids=str)
async def test_token_answer_without_a_token(body: object) -> None:
    registry = TokenRegistry(token_body=lambda n: body)  # type: ignore[arg-type,return-value]
    async with client(registry) as http:
        with pytest.raises(RegistryProtocolError, match="sent no token"):
            await http.get(MANIFEST)


@pytest.mark.parametrize(
    ("realm", "insecure", "allowed"),
    [
        ("http://auth.test/token", (), False),  # plain http off loopback
        ("http://auth.test/token", ("auth.test",), True),
        ("http://127.0.0.1:9/token", (), True),
        ("http://localhost:9/token", (), True),
        ("ftp://auth.test/token", (), False),
        ("/token", (), False),
        ("https://user:pw@auth.test/token", (), False),
        ("https://auth.test\\@evil.test/token", (), False),
    ],
)
async def test_realm_rules(realm: str, insecure: tuple[str, ...], allowed: bool) -> None:
    registry = TokenRegistry(realm=realm)
    async with client(registry, Credentials("alice", "s3cret"), insecure_hosts=insecure) as http:
        if allowed:
            assert (await http.get(MANIFEST)).status_code == 200
            assert str(registry.seen[1].url).startswith(realm)
            return
        with pytest.raises(RegistryProtocolError, match="token realm .* refused"):
            await http.get(MANIFEST)
    assert len(registry.seen) == 1  # the credentials never left


async def test_token_request_inherits_the_timeout() -> None:
    registry = TokenRegistry()
    async with client(registry) as http:
        await http.get(MANIFEST, timeout=3.5)
    assert registry.seen[1].extensions["timeout"] == registry.seen[0].extensions["timeout"]
    assert registry.seen[1].extensions["timeout"]["read"] == 3.5


async def test_identity_token_uses_the_oauth2_refresh_grant() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        if request.url.host == "auth.test":
            return httpx2.Response(200, json={"access_token": "tok-1"})
        if request.headers.get("authorization") == "Bearer tok-1":
            return httpx2.Response(200)
        challenge = f'Bearer realm="https://auth.test/oauth2/token",service="reg",scope="{SCOPE}"'
        return httpx2.Response(401, headers={"WWW-Authenticate": challenge})

    async with client(handler, Credentials("<token>", identity_token="refresh-1")) as http:
        assert (await http.get(MANIFEST)).status_code == 200
    token_request = seen[1]
    assert token_request.method == "POST"
    assert "authorization" not in token_request.headers
    assert parse_qs(token_request.content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-1"],
        "service": ["reg"],
        "scope": [SCOPE],
        "client_id": ["tidegate"],
    }


async def test_docker_hub_credentials_are_asked_for_docker_io() -> None:
    registry = TokenRegistry()
    async with client(registry, None) as http:
        await http.get("https://registry-1.docker.io/v2/library/nginx/manifests/latest")
        assert http.asked == ["docker.io"]  # type: ignore[attr-defined]


async def test_sync_clients_are_refused() -> None:
    auth = RegistryAuth(lambda host: None)
    transport = httpx2.MockTransport(lambda r: httpx2.Response(200))
    with httpx2.Client(transport=transport) as http, pytest.raises(TypeError, match="Async"):
        http.get(MANIFEST, auth=auth)


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v2/acme/web/manifests/v1", "repository:acme/web:pull"),
        ("HEAD", "/v2/library/nginx/manifests/sha256:abc", "repository:library/nginx:pull"),
        ("PUT", "/v2/a/b/c/manifests/v1", "repository:a/b/c:pull,push"),
        ("GET", "/v2/acme/manifests/x/manifests/v1", "repository:acme/manifests/x:pull"),
        ("POST", "/v2/acme/web/blobs/uploads/", "repository:acme/web:pull,push"),
        ("GET", "/v2/acme/web/tags/list", "repository:acme/web:pull"),
        ("GET", "/v2/", ""),
    ],
)
def test_scope_for(method: str, path: str, scope: str) -> None:
    assert scope_for(method, path) == scope


def test_pick_challenge_prefers_bearer_and_unquotes() -> None:
    challenge = pick_challenge(
        [
            'Basic realm="x"',
            'Bearer realm="https://a.test/t",service="s",scope="repository:a/b:pull,push",'
            'error="insufficient_scope"',
        ]
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://a.test/t",
        "service": "s",
        "scope": "repository:a/b:pull,push",
        "error": "insufficient_scope",
    }
    assert pick_challenge(['Digest realm="x"']) is None
