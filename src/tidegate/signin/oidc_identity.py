"""Who an OpenID Connect sign-in is: the user name, the groups and the role, from claims.

The name comes from `oidc_user_claim` (falling back to `sub`), the groups from
`oidc_groups_claim`; a person's role is the highest that `oidc_roles` maps any of their
groups to, else `oidc_default_role` (or no sign-in at all when that is "none").

A claim is looked up by its exact name first (Auth0-style names hold dots), then as a
dotted path into nested objects (Keycloak's `realm_access.roles`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidegate.config import Settings
from tidegate.errors import SignInRefused
from tidegate.events.grammar import clip, text_problem
from tidegate.signin.usernames import user_name_problem
from tidegate.store.credentials import ROLES

MAX_GROUPS = 500  # kept with the session: bounded, whatever a provider sends
GROUP_MAX = 200


@dataclass(frozen=True)
class Identity:
    user: str
    role: str
    groups: tuple[str, ...]


def claim_value(claims: Mapping[str, Any], name: str) -> Any:
    """The claim `name`, or the value at dotted path `name`; None when absent."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def identity(claims: Mapping[str, Any], settings: Settings) -> Identity:
    """The person these (verified) claims describe; SignInRefused (403) if they may not
    sign in."""
    user = claim_value(claims, settings.oidc_user_claim)
    if not isinstance(user, str) or not user:
        user = claims.get("sub")
    if not isinstance(user, str):
        raise SignInRefused("The identity provider did not say who you are.", status=403)
    problem = user_name_problem(user)
    if problem is not None:
        raise SignInRefused(
            f"The user name {clip(user)} from the identity provider {problem}.", status=403
        )
    groups = group_names(claim_value(claims, settings.oidc_groups_claim))
    role = role_for(groups, settings.oidc_roles, settings.oidc_default_role)
    if role is None:
        raise SignInRefused(
            "None of your groups at the identity provider may sign in to Tidegate.", status=403
        )
    return Identity(user, role, groups)


def group_names(value: Any) -> tuple[str, ...]:
    """The groups in a claim: a list of names (or one name); others are left out."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    names = [v for v in value if isinstance(v, str) and v and text_problem(v, GROUP_MAX) is None]
    return tuple(dict.fromkeys(names))[:MAX_GROUPS]


def role_for(groups: tuple[str, ...], mapping: Mapping[str, str], default: str) -> str | None:
    """The highest role any of `groups` maps to, else `default` ("none": None)."""
    mapped = [mapping[g] for g in groups if mapping.get(g) in ROLES]
    if mapped:
        return max(mapped, key=ROLES.index)
    return None if default == "none" else default
