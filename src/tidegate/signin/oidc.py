"""OpenID Connect, the relying party's side: discovery, the authorization-code exchange
with PKCE, and the ID token's checks (signature by the provider's keys, issuer, audience,
expiry, nonce).

The provider's metadata and keys are fetched on first use and kept for an hour; an ID
token signed with a key not known yet fetches the keys once more (the provider rotated
them). Every failure ends here as a SignInRefused: httpx2's and joserfc's errors go no
further, and no message holds a token, a code or the client secret.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from tidegate.config import Settings
from tidegate.errors import SignInRefused
from tidegate.events.grammar import clip
from tidegate.signin.oidc_identity import claim_value

DISCOVERY_PATH = "/.well-known/openid-configuration"
CALLBACK_PATH = "/login/oidc/callback"
CACHE_SECONDS = 3600.0
LEEWAY_SECONDS = 60  # clock skew between this server and the provider
# Signatures with the provider's published keys only: never "none", never HMAC (keyed
# with the client secret, which is not the provider's alone).
ALGORITHMS = (
    *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    *("ES256", "ES384", "ES512", "EdDSA"),
)


@dataclass(frozen=True)
class Provider:
    """What the provider's discovery document says, checked."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str  # "" when it has none
    algorithms: tuple[str, ...]
    secret_in_body: bool  # client_secret_post; else HTTP Basic (client_secret_basic)


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


def new_pkce() -> Pkce:
    """A PKCE pair (RFC 7636, S256): the challenge goes out, the verifier stays here."""
    verifier = secrets.token_urlsafe(48)  # 64 characters, within 43-128
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def scopes(configured: str) -> str:
    """The scopes to ask for: `openid` always, first."""
    asked = [s for s in configured.split() if s != "openid"]
    return " ".join(["openid", *dict.fromkeys(asked)])


class OidcClient:
    """The provider named by `oidc_issuer`, as this server's client `oidc_client_id`."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.transport = transport
        self._provider: tuple[float, Provider] | None = None
        self._keys: tuple[float, KeySet] | None = None

    @property
    def redirect_uri(self) -> str:
        return self.settings.base_url + CALLBACK_PATH

    async def authorization_url(self, state: str, nonce: str, challenge: str) -> str:
        """Where to send the browser to sign in."""
        provider = await self.provider()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.oidc_client_id,
                "redirect_uri": self.redirect_uri,
                "scope": scopes(self.settings.oidc_scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in provider.authorization_endpoint else "?"
        return provider.authorization_endpoint + separator + query

    async def sign_in(self, code: str, verifier: str, nonce: str) -> dict[str, Any]:
        """The person's claims for this code: the ID token's, checked; completed from the
        userinfo endpoint when the user or groups claim is not in the token."""
        id_token, access_token = await self._exchange(code, verifier)
        claims = await self.verify_id_token(id_token, nonce)
        wanted = (self.settings.oidc_user_claim, self.settings.oidc_groups_claim)
        if access_token and any(claim_value(claims, name) is None for name in wanted):
            claims = {**await self._userinfo(access_token, claims["sub"]), **claims}
        return claims

    async def provider(self) -> Provider:
        cached = self._provider
        if cached is not None and self.clock() < cached[0]:
            return cached[1]
        issuer = self.settings.oidc_issuer
        doc = await self._json("GET", issuer.rstrip("/") + DISCOVERY_PATH, "discovery")
        if doc.get("issuer") != issuer:
            raise SignInRefused(
                f"The identity provider calls itself {clip(str(doc.get('issuer')))}, "
                f"not {clip(issuer)} (TIDEGATE_OIDC_ISSUER).",
                status=502,
            )
        offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(a for a in ALGORITHMS if isinstance(offered, list) and a in offered)
        if not algorithms:
            raise SignInRefused(
                "The identity provider signs ID tokens with no algorithm Tidegate accepts.",
                status=502,
            )
        methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        provider = Provider(
            issuer=issuer,
            authorization_endpoint=self._endpoint(doc, "authorization_endpoint"),
            token_endpoint=self._endpoint(doc, "token_endpoint"),
            jwks_uri=self._endpoint(doc, "jwks_uri"),
            userinfo_endpoint=self._endpoint(doc, "userinfo_endpoint", required=False),
            algorithms=algorithms,
            secret_in_body="client_secret_basic" not in methods and "client_secret_post" in methods,
        )
        self._provider = (self.clock() + CACHE_SECONDS, provider)
        return provider

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, once its signature, issuer, audience, expiry and nonce
        are right; SignInRefused otherwise."""
        provider = await self.provider()
        client_id = self.settings.oidc_client_id
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(), list(provider.algorithms))
            except InvalidKeyIdError:
                keys = await self._key_set(refresh=True)
                token = jwt.decode(id_token, keys, list(provider.algorithms))
            jwt.JWTClaimsRegistry(
                now=int(self.clock()),
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": provider.issuer},
                aud={"essential": True, "value": client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise SignInRefused(f"The ID token was refused: {_why(exc)}.") from exc
        claims = dict(token.claims)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        # Meant for several clients: it must name this one as the one it was issued to.
        if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
            raise SignInRefused("The ID token was refused: it was issued to another client.")
        return claims

    async def _exchange(self, code: str, verifier: str) -> tuple[str, str]:
        """The code for an ID token and an access token, at the token endpoint."""
        provider = await self.provider()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        client_id = self.settings.oidc_client_id
        secret = self.settings.oidc_client_secret
        password = secret.get_secret_value() if secret else ""
        auth: httpx2.BasicAuth | None = None
        if provider.secret_in_body:
            form |= {"client_id": client_id, "client_secret": password}
        else:
            auth = httpx2.BasicAuth(client_id, password)
        answer = await self._json("POST", provider.token_endpoint, "token", data=form, auth=auth)
        id_token, access_token = answer.get("id_token"), answer.get("access_token", "")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise SignInRefused("The identity provider sent no ID token.", status=502)
        return id_token, access_token

    async def _userinfo(self, access_token: str, subject: str) -> dict[str, Any]:
        provider = await self.provider()
        if not provider.userinfo_endpoint:
            return {}
        headers = {"Authorization": f"Bearer {access_token}"}
        info = await self._json("GET", provider.userinfo_endpoint, "userinfo", headers=headers)
        if info.get("sub") != subject:  # OpenID Connect Core 5.3.2: else it is not theirs
            raise SignInRefused("The identity provider's userinfo is about someone else.")
        return info

    async def _key_set(self, refresh: bool = False) -> KeySet:
        cached = self._keys
        if cached is not None and not refresh and self.clock() < cached[0]:
            return cached[1]
        provider = await self.provider()
        doc = await self._json("GET", provider.jwks_uri, "signing keys")
        try:
            keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]  # checked by joserfc
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise SignInRefused(
                f"The identity provider's signing keys cannot be read: {_why(exc)}.", status=502
            ) from exc
        self._keys = (self.clock() + CACHE_SECONDS, keys)
        return keys

    def _endpoint(self, doc: Mapping[str, Any], name: str, required: bool = True) -> str:
        """An endpoint of the discovery document: https, or http when the issuer is (a
        provider on this machine, for tests)."""
        value = doc.get(name)
        if value is None and not required:
            return ""
        scheme = urlsplit(self.settings.oidc_issuer).scheme
        if not isinstance(value, str) or urlsplit(value).scheme not in {"https", scheme}:
            raise SignInRefused(
                f"The identity provider's {name} is missing or not an https URL.", status=502
            )
        return value

    async def _json(self, method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        """One request to the provider, answered with a JSON object."""
        try:
            async with httpx2.AsyncClient(
                timeout=self.settings.outbound_timeout, transport=self.transport
            ) as client:
                answer = await client.request(method, url, **kwargs)
                body = answer.json()
        except httpx2.HTTPError as exc:
            raise SignInRefused(
                f"Cannot reach the identity provider ({what}): {_why(exc)}.", status=502
            ) from exc
        except ValueError as exc:  # not JSON
            raise SignInRefused(
                f"The identity provider's {what} answer ({answer.status_code}) is not JSON.",
                status=502,
            ) from exc
        if not isinstance(body, dict):
            raise SignInRefused(
                f"The identity provider's {what} answer is not an object.", status=502
            )
        if answer.status_code != 200:
            error = body.get("error")
            said = clip(error) if isinstance(error, str) else f"HTTP {answer.status_code}"
            # 4xx: this sign-in's code or request was refused (used already, expired).
            status = 400 if 400 <= answer.status_code < 500 else 502
            raise SignInRefused(
                f"The identity provider refused the {what} request: {said}.", status=status
            )
        return body


def _why(exc: Exception) -> str:
    """An exception's own words, never its arguments' values (which may be tokens)."""
    if isinstance(exc, JoseError):
        return exc.description or exc.error
    return str(exc) or type(exc).__name__
