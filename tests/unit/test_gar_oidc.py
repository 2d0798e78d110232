"""The `gar` source's Pub/Sub push OIDC token: keys from a JWKS file made here, tokens
signed as Google would, and tampered ones (audience, issuer, expiry, key, algorithm,
header) refused with the reason `/metrics` counts."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey
from pydantic import ValidationError

from tidegate.config import Settings
from tidegate.events.sources.auth import Refused
from tidegate.events.sources.gar_oidc import (
    LEEWAY_SECONDS,
    KeysUnreadable,
    PushTokens,
    push_tokens,
)

NOW = 1_800_000_000
AUDIENCE = "tidegate-gar"
EMAIL = "pubsub-push@acme-ci.iam.gserviceaccount.com"
RSA = RSAKey.generate_key(2048, parameters={"kid": "google-1"}, private=True)
OTHER = RSAKey.generate_key(2048, parameters={"kid": "google-1"}, private=True)


def claims(**changes: Any) -> dict[str, Any]:
    """What Pub/Sub puts in a push's token (Google's ID token for the service account)."""
    base = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "azp": "113774264463038321964",
        "sub": "113774264463038321964",
        "email": EMAIL,
        "email_verified": True,
        "iat": NOW - 10,
        "exp": NOW + 3590,
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


def token(key: Any = RSA, alg: str = "RS256", **changes: Any) -> str:
    header = {"alg": alg, "typ": "JWT", "kid": key.kid}
    return jwt.encode(header, claims(**changes), key)


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}", "content-type": "application/json"}


def write_jwks(path: Path, *keys: Any) -> Path:
    path.write_text(json.dumps({"keys": [k.as_dict(private=False) for k in keys]}))
    return path


@pytest.fixture
def jwks(tmp_path: Path) -> Path:
    return write_jwks(tmp_path / "google-jwks.json", RSA)


@pytest.fixture
def check(jwks: Path) -> PushTokens:
    return PushTokens(AUDIENCE, jwks, clock=lambda: NOW)


def refusal(check: PushTokens, headers: dict[str, str]) -> Refused:
    with pytest.raises(Refused) as caught:
        check(headers)
    token = headers.get("authorization", "").removeprefix("Bearer ")
    assert not token or token not in caught.value.message  # never said back
    return caught.value


def test_a_token_signed_by_the_keys_for_the_audience_passes(check: PushTokens) -> None:
    check(bearer(token()))
    check(bearer(token(iss="accounts.google.com")))  # Google's other spelling
    check({"authorization": "bearer " + token()})


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "another-audience"},
        {"aud": None},
        {"iss": "https://evil.example.com"},
        {"iss": None},
        {"exp": NOW - LEEWAY_SECONDS - 1},
        {"exp": None},
        {"iat": None},
    ],
    ids=["wrong-aud", "no-aud", "wrong-iss", "no-iss", "expired", "no-exp", "no-iat"],
)
def test_a_token_with_wrong_claims_is_refused(check: PushTokens, changes: dict[str, Any]) -> None:
    assert refusal(check, bearer(token(**changes))).reason == "mismatch"


def test_a_token_just_past_its_expiry_passes_within_the_leeway(check: PushTokens) -> None:
    check(bearer(token(exp=NOW - LEEWAY_SECONDS + 5)))


def test_a_token_signed_with_another_key_is_refused(check: PushTokens) -> None:
    assert refusal(check, bearer(token(OTHER))).reason == "mismatch"  # same kid, bad signature
    stranger = RSAKey.generate_key(2048, parameters={"kid": "stranger"}, private=True)
    assert refusal(check, bearer(token(stranger))).reason == "unknown_key"


def test_a_token_whose_body_was_changed_is_refused(check: PushTokens) -> None:
    head, _, rest = token().partition(".")
    _, _, signature = rest.partition(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(aud="x")).encode()).rstrip(b"=")
    assert refusal(check, bearer(f"{head}.{forged.decode()}.{signature}")).reason == "mismatch"


def _unsigned(alg: str) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    return f"{part({'alg': alg, 'kid': 'google-1'})}.{part(claims())}."


def test_alg_none_and_hmac_tokens_are_refused(check: PushTokens, jwks: Path) -> None:
    assert refusal(check, bearer(_unsigned("none"))).reason == "mismatch"
    # HS256 keyed with the public key's bytes: the classic key-confusion forgery.
    public = OctKey.import_key(jwks.read_bytes(), parameters={"kid": "google-1"})
    assert refusal(check, bearer(token(public, "HS256"))).reason == "mismatch"
    rs384 = jwt.encode({"alg": "RS384", "kid": "google-1"}, claims(), RSA, algorithms=["RS384"])
    assert refusal(check, bearer(rs384)).reason == "mismatch"


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": ""}, {"authorization": "Bearer "}, {"authorization": "Basic abc"}],
    ids=["none", "empty", "bearer-only", "basic"],
)
def test_a_delivery_without_a_token_is_refused_as_missing(
    check: PushTokens, headers: dict[str, str]
) -> None:
    assert refusal(check, headers).reason == "missing"


@pytest.mark.parametrize("junk", ["abc", "a.b.c", "....", "x" * 20_000, "é.é.é"])
def test_junk_in_place_of_a_token_is_refused(check: PushTokens, junk: str) -> None:
    assert refusal(check, bearer(junk)).reason == "mismatch"


def test_the_service_account_is_checked_when_configured(jwks: Path) -> None:
    check = PushTokens(AUDIENCE, jwks, EMAIL, clock=lambda: NOW)
    check(bearer(token()))
    assert refusal(check, bearer(token(email="someone@else.example"))).reason == "mismatch"
    assert refusal(check, bearer(token(email_verified=False))).reason == "mismatch"
    assert refusal(check, bearer(token(email=None))).reason == "mismatch"


def test_es256_keys_are_accepted(tmp_path: Path) -> None:
    ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
    check = PushTokens(AUDIENCE, write_jwks(tmp_path / "k.json", RSA, ec), clock=lambda: NOW)
    check(bearer(token(ec, "ES256")))
    check(bearer(token()))


def _touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_the_keys_file_is_read_again_when_it_changes(check: PushTokens, jwks: Path) -> None:
    rotated = RSAKey.generate_key(2048, parameters={"kid": "google-2"}, private=True)
    assert refusal(check, bearer(token(rotated))).reason == "unknown_key"
    write_jwks(jwks, RSA, rotated)
    _touch_later(jwks)
    check(bearer(token(rotated)))
    check(bearer(token()))
    write_jwks(jwks, rotated)  # the old key retired
    _touch_later(jwks)
    assert refusal(check, bearer(token())).reason == "unknown_key"


def test_a_bad_rewrite_of_the_keys_file_keeps_the_keys_read_before(
    check: PushTokens, jwks: Path
) -> None:
    jwks.write_text('{"keys": [')  # half written
    _touch_later(jwks)
    check(bearer(token()))
    jwks.unlink()
    check(bearer(token()))


@pytest.mark.parametrize("text", [None, "", "{}", '{"keys": []}', '{"keys": [{"kty": "zz"}]}'])
def test_a_keys_file_that_cannot_be_read_stops_the_start(tmp_path: Path, text: str | None) -> None:
    path = tmp_path / "jwks.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(KeysUnreadable, match="jwks.json"):
        PushTokens(AUDIENCE, path)


def test_settings_turn_the_check_on_only_with_an_audience_and_keys(jwks: Path) -> None:
    assert push_tokens(Settings()) is None
    made = push_tokens(Settings(gar_oidc_audience=AUDIENCE, gar_oidc_jwks=jwks))
    assert made is not None and made.audience == AUDIENCE
    with pytest.raises(ValidationError, match="together"):
        Settings(gar_oidc_audience=AUDIENCE)
    with pytest.raises(ValidationError, match="together"):
        Settings(gar_oidc_jwks=jwks)
    with pytest.raises(ValidationError, match="gar_oidc_email needs"):
        Settings(gar_oidc_email=EMAIL)


@pytest.fixture(scope="module")
def module_check(tmp_path_factory: pytest.TempPathFactory) -> PushTokens:
    keys = write_jwks(tmp_path_factory.mktemp("jwks") / "google-jwks.json", RSA)
    return PushTokens(AUDIENCE, keys, clock=lambda: NOW)


@given(st.text(max_size=300) | st.from_regex(r"Bearer [A-Za-z0-9_.=-]{0,300}", fullmatch=True))
@settings(max_examples=300, deadline=None)
def test_anything_in_the_header_is_refused_and_nothing_else(
    module_check: PushTokens, value: str
) -> None:
    with pytest.raises(Refused):
        module_check({"authorization": value})
