"""Claims to a person: the name, the groups, the highest mapped role."""

from __future__ import annotations

import pytest

from tidegate.config import Settings
from tidegate.errors import SignInRefused
from tidegate.signin.oidc import scopes
from tidegate.signin.oidc_identity import identity


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "oidc_roles": {"release": "approver", "platform": "admin", "qa": "viewer"},
    }
    values.update(overrides)
    return Settings(**values)


def test_the_highest_mapped_role_wins_and_others_get_the_default() -> None:
    claims = {"sub": "s1", "preferred_username": "carol", "groups": ["qa", "platform", "release"]}
    person = identity(claims, settings())
    assert (person.user, person.role) == ("carol", "admin")
    assert person.groups == ("qa", "platform", "release")
    assert identity({"sub": "s2", "groups": ["dev"]}, settings()).role == "viewer"
    # Without the user claim, the subject is the name.
    assert identity({"sub": "s2", "groups": ["dev"]}, settings()).user == "s2"


def test_default_none_keeps_out_people_in_no_mapped_group() -> None:
    strict = settings(oidc_default_role="none")
    assert identity({"sub": "s", "groups": "release"}, strict).role == "approver"
    with pytest.raises(SignInRefused) as caught:
        identity({"sub": "s", "groups": ["dev"]}, strict)
    assert caught.value.status == 403


def test_nested_claims_and_unusable_names() -> None:
    keycloak = settings(oidc_groups_claim="realm_access.roles", oidc_user_claim="email")
    claims = {"sub": "s", "email": "c@example.com", "realm_access": {"roles": ["release", 7]}}
    person = identity(claims, keycloak)
    assert (person.user, person.role, person.groups) == ("c@example.com", "approver", ("release",))
    for name in ("group:release", " carol", "bad\x00name"):
        with pytest.raises(SignInRefused):
            identity({"sub": "s", "preferred_username": name}, settings())


def test_openid_is_always_asked_for() -> None:
    assert scopes("profile email groups") == "openid profile email groups"
    assert scopes("email openid email") == "openid email"


def test_settings_refuse_unknown_roles_and_plain_http_issuers() -> None:
    with pytest.raises(ValueError):
        Settings(oidc_roles={"release": "king"})
    with pytest.raises(ValueError):
        Settings(oidc_issuer="http://sso.example.com")
    assert Settings(oidc_issuer="http://localhost:9400").oidc_issuer
