"""Registry authentication as an httpx2 `Auth`: anonymous, Basic, and the Bearer token flow.

A request goes out anonymously, or with what worked before for its host and scope (a
cached token, or Basic for a registry that asked for Basic). On a 401 the challenge
decides: `Basic` → retry with the user's password; `Bearer realm=…,service=…,scope=…`
→ ask the realm for a token (Docker's token spec, with Basic credentials when we have
them, or an identity token through OAuth2's refresh grant) and retry with it. The token
request names the challenge's scopes and the request's own (`scopes.py`), in one
request. Tokens are cached per (host, scope) until `expires_in` minus a margin, and
serve any request whose scope theirs covers.

The token request goes to the realm's host and nowhere else (redirects are not
followed), plain http only for a loopback realm or one on a host marked insecure, to an
address the client's `Reach` accepts (a realm on a private address must be listed), and
it inherits the timeout of the request it serves.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncGenerator, Callable, Collection, Generator
from dataclasses import dataclass

import httpx2

from tidegate import __version__
from tidegate.backoff import retry_after
from tidegate.errors import OutboundRefused
from tidegate.registry.answers import what_was_said
from tidegate.registry.credentials import Credentials
from tidegate.registry.errors import RegistryAuthError, RegistryProtocolError, RegistryUnreachable
from tidegate.registry.hosts import is_loopback, registry_name
from tidegate.registry.scopes import covers, merge_scopes, scope_for
from tidegate.security.allowlist import AllowList

DEFAULT_EXPIRES_IN = 60.0  # the token spec's default when a token service omits it
MARGIN = 10.0  # renew this long before expiry, so a token never dies in flight

_PARAM = re.compile(r'([A-Za-z][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^",\s]*)')


@dataclass(frozen=True)
class Challenge:
    """One `WWW-Authenticate` challenge: scheme (lower-case) and its parameters."""

    scheme: str
    params: dict[str, str]


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float


class RegistryAuth(httpx2.Auth):
    """The registry auth flow for an `httpx2.AsyncClient`; one instance per client.

    `credentials_for(registry)` is called (in a worker thread: credential helpers are
    programs) with a registry name such as `docker.io` or `127.0.0.1:5000`, only when a
    registry asks for credentials.
    """

    def __init__(
        self,
        credentials_for: Callable[[str], Credentials | None],
        *,
        insecure_hosts: Collection[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials_for = credentials_for
        self._insecure = frozenset(h.lower() for h in insecure_hosts)
        self._clock = clock
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._basic: dict[str, str] = {}  # host → header, for hosts that asked for Basic
        self._fetching: dict[tuple[str, str], asyncio.Future[_Token]] = {}

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        raise TypeError("RegistryAuth works with httpx2.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        host = request.url.netloc.decode("ascii")
        wanted = request_scope(request)
        sent = self._cached(host, wanted)
        if sent:
            request.headers["Authorization"] = sent
        response = yield request
        if response.status_code != 401:
            return
        challenge = pick_challenge(response.headers.get_list("www-authenticate"))
        if challenge is None:
            return
        self._forget(host, sent)
        creds = await asyncio.to_thread(self._credentials_for, registry_name(host))
        if challenge.scheme == "basic":
            if creds is None or not creds.password:
                return
            header = _basic_header(creds)
            if header == sent:
                return  # these credentials were just refused
            self._basic[host] = header
        else:
            # Both: the challenge may name less than we need (a mount's source
            # repository), and one token must carry all of it.
            scope = merge_scopes(challenge.params.get("scope", ""), wanted)
            key = (host, scope)
            # Refused together with others (a copy's parallel blob mounts): use the
            # token one of them fetched meanwhile, or wait for the one on its way.
            token = self._token_for(host, scope)
            if token is None or f"Bearer {token.value}" == sent:
                token = await self._awaited(key, sent)
            if token is None:
                fetching = asyncio.get_running_loop().create_future()
                self._fetching[key] = fetching
                try:
                    token_response = yield self._token_request(
                        challenge, host, scope, creds, request
                    )
                    await token_response.aread()
                    token = self._read_token(token_response, host, creds)
                    fetching.set_result(token)
                finally:
                    if not fetching.done():
                        fetching.cancel()  # those waiting ask for themselves
                    if self._fetching.get(key) is fetching:
                        del self._fetching[key]
                self._tokens[key] = token
            header = f"Bearer {token.value}"
        request.headers["Authorization"] = header
        yield request

    async def _awaited(self, key: tuple[str, str], sent: str | None) -> _Token | None:
        """The token another request is fetching for `key`, once it arrives; None if
        none is on its way, or if it failed or is the one just refused."""
        fetching = self._fetching.get(key)
        if fetching is None:
            return None
        await asyncio.wait([fetching])  # never raises the fetch's failure here
        if fetching.cancelled() or f"Bearer {fetching.result().value}" == sent:
            return None
        return fetching.result()

    def _cached(self, host: str, scope: str) -> str | None:
        token = self._token_for(host, scope)
        if token is not None:
            return f"Bearer {token.value}"
        return self._basic.get(host)

    def _token_for(self, host: str, scope: str) -> _Token | None:
        now = self._clock()
        for key in [k for k, t in self._tokens.items() if t.expires_at <= now]:
            del self._tokens[key]
        token = self._tokens.get((host, scope))
        if token is None and scope:
            # A token for more serves less: a push token serves a pull, a mount's a push.
            token = next(
                (t for (h, s), t in self._tokens.items() if h == host and covers(s, scope)),
                None,
            )
        return token

    def _forget(self, host: str, sent: str | None) -> None:
        if sent is None:
            return
        if sent.startswith("Bearer "):
            for key in [k for k, t in self._tokens.items() if sent == f"Bearer {t.value}"]:
                del self._tokens[key]
        elif self._basic.get(host) == sent:
            del self._basic[host]

    def _token_request(
        self,
        challenge: Challenge,
        host: str,
        scope: str,
        creds: Credentials | None,
        original: httpx2.Request,
    ) -> httpx2.Request:
        realm = self._checked_realm(challenge.params.get("realm", ""), host)
        params: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            params.append(("service", challenge.params["service"]))
        params += [("scope", s) for s in scope.split()]
        headers = {"Accept": "application/json", "User-Agent": f"tidegate/{__version__}"}
        extensions = {k: v for k, v in original.extensions.items() if k == "timeout"}
        if creds is not None and creds.identity_token:
            form = dict(params)  # OAuth2 refresh grant: how an identity token is spent
            form.update(
                grant_type="refresh_token", refresh_token=creds.identity_token, client_id="tidegate"
            )
            form["scope"] = scope
            return httpx2.Request("POST", realm, data=form, headers=headers, extensions=extensions)
        if creds is not None and creds.password:
            params.append(("account", creds.username))
            headers["Authorization"] = _basic_header(creds)
        url = realm.copy_merge_params(tuple(params))
        return httpx2.Request("GET", url, headers=headers, extensions=extensions)

    def _checked_realm(self, realm: str, host: str) -> httpx2.URL:
        registry = registry_name(host)
        try:
            url = httpx2.URL(realm)
            if url.scheme not in ("http", "https") or not url.host or url.userinfo:
                raise OutboundRefused("not an http(s) URL with a host and no user info")
            netloc = url.netloc.decode("ascii")
            # The allow-list's URL checks (no control characters, no `\@`-style
            # authority tricks) with the realm's own host, any port, as the only entry.
            AllowList([f"[{url.host}]:*" if ":" in url.host else f"{url.host}:*"]).check(realm)
        except (httpx2.InvalidURL, OutboundRefused, ValueError):
            # Not the realm itself: the registry chose it, and messages reach viewers.
            raise RegistryProtocolError(
                f"token realm of {registry} refused: not an http(s) URL with a plain host",
                registry=registry,
            ) from None
        if url.scheme == "http" and not (
            is_loopback(netloc) or {netloc.lower(), url.host.lower()} & self._insecure
        ):
            raise RegistryProtocolError(
                f"token realm http://{netloc} refused: plain http is only used for loopback"
                " or insecure hosts",
                registry=registry,
            )
        return url

    def _read_token(
        self, response: httpx2.Response, host: str, creds: Credentials | None
    ) -> _Token:
        registry = registry_name(host)
        service = f"token service {response.request.url.netloc.decode('ascii')}"
        status = response.status_code
        said = what_was_said(response)  # known error codes only, never the body's words
        said = f" ({said})" if said else ""
        if status in (401, 403):
            who = f"user {creds.username!r}" if creds else "anonymous access"
            raise RegistryAuthError(
                f"{service} refused {who}{said}", registry=registry, status=status
            )
        if status == 429 or status >= 500:
            raise RegistryUnreachable(
                f"{service} is unavailable{said}",
                registry=registry,
                status=status,
                retry_after=retry_after(response.headers.get("retry-after")),
            )
        if status != 200:
            raise RegistryProtocolError(
                f"{service} answered unexpectedly{said}", registry=registry, status=status
            )
        try:
            doc = json.loads(response.content)
            value = doc.get("token") or doc.get("access_token")
            expires_in = doc.get("expires_in")
        except (ValueError, AttributeError):
            value = expires_in = None
        if not isinstance(value, str) or not value:
            raise RegistryProtocolError(f"{service} sent no token", registry=registry)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 0.0
        if lifetime <= 0:
            lifetime = DEFAULT_EXPIRES_IN
        return _Token(value, self._clock() + lifetime - min(MARGIN, lifetime / 2))


def request_scope(request: httpx2.Request) -> str:
    """The scope `request` needs, a mount's source repository included."""
    params = request.url.params
    mount_from = params.get("from", "") if params.get("mount") else ""
    return scope_for(request.method, request.url.path, mount_from)


def pick_challenge(values: list[str]) -> Challenge | None:
    """The challenge we answer: Bearer if offered, else Basic, else None."""
    found: dict[str, Challenge] = {}
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        params = {k.lower(): _unquote(v) for k, v in _PARAM.findall(rest)}
        found.setdefault(scheme.lower(), Challenge(scheme.lower(), params))
    return found.get("bearer") or found.get("basic")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _basic_header(creds: Credentials) -> str:
    pair = f"{creds.username}:{creds.password}".encode()
    return f"Basic {base64.b64encode(pair).decode('ascii')}"
