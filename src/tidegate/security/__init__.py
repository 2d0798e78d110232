"""Security: tokens, the outbound allow-list (and later users, roles, signatures)."""

from __future__ import annotations

from tidegate.security.allowlist import DOCKERHUB_CALLBACK_HOSTS, AllowList
from tidegate.security.tokens import API_PREFIX, HOOK_PREFIX, Secret, hash_token, new_token, verify

__all__ = [
    "API_PREFIX",
    "DOCKERHUB_CALLBACK_HOSTS",
    "HOOK_PREFIX",
    "AllowList",
    "Secret",
    "hash_token",
    "new_token",
    "verify",
]
