"""Sign-in through an OpenID Connect provider: `/login/oidc` sends the browser there, the
provider sends it back to `/login/oidc/callback` with a code.

What the callback must check (the `state`, the `nonce`, the PKCE verifier) and where to
go after wait in between in a short-lived cookie, signed with a key derived from the
client secret: every server process of an installation can read it, the browser cannot
change it, and nothing secret travels in a URL. A code is good once (the provider
refuses a replay), and the cookie is cleared whatever the callback's outcome.

A first sign-in creates the user (origin `oidc`, no password); later ones bring its role
up to date with the groups the provider names. A disabled user is refused, and so is a
name that belongs to a local user (a provider's names are not ours to take over).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from tidegate.errors import SignInRefused
from tidegate.events.grammar import clip
from tidegate.signin.oidc import OidcClient, new_pkce
from tidegate.signin.oidc_identity import Identity, identity
from tidegate.store import audit, users
from tidegate.web.state import AppState, State
from tidegate.web.ui.access import safe_next
from tidegate.web.ui.loginform import login_page
from tidegate.web.ui.session import csrf_valid, secure_cookies, signed_in, start_session

router = APIRouter(include_in_schema=False)

FLOW_COOKIE = "tidegate_oidc"
FLOW_PATH = "/login/oidc"  # the cookie goes to the callback and nowhere else
FLOW_SECONDS = 600  # time to sign in at the provider
ACTOR = "oidc"  # the audit trail's actor for users the provider creates or changes
EXPIRED = "The sign-in expired or was started in another browser: please sign in again."


@dataclass(frozen=True)
class Flow:
    """A sign-in under way."""

    state: str
    nonce: str
    verifier: str
    next: str


@router.get("/login/oidc")
async def start(request: Request, state: State, next: str = "/") -> Response:
    if not state.settings.oidc_enabled:
        raise HTTPException(404, "sign-in through an identity provider is not configured")
    if await signed_in(request) is not None:
        return RedirectResponse(safe_next(next), 303)
    pkce = new_pkce()
    flow = Flow(
        secrets.token_urlsafe(32), secrets.token_urlsafe(32), pkce.verifier, safe_next(next)
    )
    try:
        url = await _client(request, state).authorization_url(
            flow.state, flow.nonce, pkce.challenge
        )
    except SignInRefused as exc:
        return login_page(request, state, flow.next, exc.message, exc.status)
    response = RedirectResponse(url, 303)
    response.set_cookie(
        FLOW_COOKIE,
        seal(flow, _key(state), time.time()),
        max_age=FLOW_SECONDS,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back here
        secure=secure_cookies(state),
        path=FLOW_PATH,
    )
    return response


@router.get("/login/oidc/callback")
async def callback(
    request: Request,
    state: State,
    code: Annotated[str, Query(max_length=4096)] = "",
    given_state: Annotated[str, Query(alias="state", max_length=512)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
    error_description: Annotated[str, Query(max_length=1000)] = "",
) -> Response:
    if not state.settings.oidc_enabled:
        raise HTTPException(404, "sign-in through an identity provider is not configured")
    flow = unseal(request.cookies.get(FLOW_COOKIE, ""), _key(state), time.time())
    try:
        if flow is None or not csrf_valid(flow.state, given_state):
            raise SignInRefused(EXPIRED)
        if error:  # the provider's answer to this very browser's sign-in: safe to show
            said = f"{error}: {error_description}" if error_description else error
            raise SignInRefused(f"The identity provider did not sign you in ({clip(said)}).")
        if not code:
            raise SignInRefused("The identity provider sent no code.")
        claims = await _client(request, state).sign_in(code, flow.verifier, flow.nonce)
        person = identity(claims, state.settings)
        await asyncio.to_thread(provision, state, person)
    except SignInRefused as exc:
        response = login_page(request, state, flow.next if flow else "/", exc.message, exc.status)
        _forget_flow(response, state)
        return response
    response = RedirectResponse(flow.next, 303)
    await asyncio.to_thread(
        start_session, state, response, person.user, person.role, list(person.groups)
    )
    _forget_flow(response, state)
    return response


def provision(state: AppState, person: Identity) -> None:
    """Create or update the provider's user row; SignInRefused (403) if it may not sign in."""
    try:
        _provision(state, person)
    except IntegrityError:  # a first sign-in in two tabs at once: the other created it
        _provision(state, person)


def _provision(state: AppState, person: Identity) -> None:
    with state.db.session() as session:
        user = users.find_user(session, person.user)
        if user is None:
            users.create_user(session, person.user, person.role, None, origin="oidc")
            audit.record(session, ACTOR, "user.create", person.user, person.role)
            return
        if user.origin != "oidc":
            raise SignInRefused(
                f"{person.user} is a local user of Tidegate: sign in with its password.",
                status=403,
            )
        if user.disabled_at is not None:
            raise SignInRefused(f"The account {person.user} is disabled.", status=403)
        if user.role != person.role:
            audit.record(session, ACTOR, "user.role", person.user, f"{user.role} → {person.role}")
            user.role = person.role


def seal(flow: Flow, key: OctKey, now: float) -> str:
    """The flow as a signed token that expires in FLOW_SECONDS."""
    claims = {
        "state": flow.state,
        "nonce": flow.nonce,
        "verifier": flow.verifier,
        "next": flow.next,
        "exp": int(now) + FLOW_SECONDS,
    }
    return jwt.encode({"alg": "HS256"}, claims, key)


def unseal(value: str, key: OctKey, now: float) -> Flow | None:
    """The flow a cookie holds; None when it is missing, forged or expired."""
    if not value:
        return None
    try:
        token = jwt.decode(value, key, ["HS256"])
        jwt.JWTClaimsRegistry(now=int(now), exp={"essential": True}).validate(token.claims)
    except (JoseError, ValueError, TypeError):
        return None
    fields = [token.claims.get(name) for name in ("state", "nonce", "verifier", "next")]
    if not all(isinstance(f, str) and f for f in fields):
        return None
    state, nonce, verifier, next_path = (str(f) for f in fields)
    return Flow(state, nonce, verifier, safe_next(next_path))


def _key(state: AppState) -> OctKey:
    """The cookie's signing key: the client secret's, for this purpose only."""
    secret = state.settings.oidc_client_secret
    assert secret is not None  # oidc_enabled
    derived = hmac.new(
        secret.get_secret_value().encode(), b"tidegate: OIDC sign-in flow", hashlib.sha256
    ).digest()
    return OctKey.import_key(derived)


def _forget_flow(response: Response, state: AppState) -> None:
    response.delete_cookie(
        FLOW_COOKIE,
        path=FLOW_PATH,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(state),
    )


def _client(request: Request, state: AppState) -> OidcClient:
    """This app's client: it keeps the provider's metadata and keys between sign-ins."""
    client: OidcClient | None = getattr(request.app.state, "oidc_client", None)
    if client is None:
        client = OidcClient(state.settings)
        request.app.state.oidc_client = client
    return client
