"""Tokens: fresh, hashed for storage, verified in constant time; secrets masked."""

from __future__ import annotations

import json

from tidegate.security.tokens import (
    API_PREFIX,
    HOOK_PREFIX,
    Secret,
    hash_token,
    new_token,
    verify,
)


def test_new_token_shape() -> None:
    token = new_token(HOOK_PREFIX)
    assert token.startswith("tgh_")
    body = token.removeprefix("tgh_")
    assert len(body) == 43  # 32 bytes, URL-safe base64 without padding
    assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert new_token(API_PREFIX).startswith("tga_")


def test_tokens_are_unique() -> None:
    assert len({new_token("t_") for _ in range(1000)}) == 1000


def test_hash_and_verify() -> None:
    token = new_token(API_PREFIX)
    stored = hash_token(token)
    assert len(stored) == 64 and stored == stored.lower()
    assert token not in stored
    assert hash_token(token) == stored  # deterministic: lookup by hash works
    assert verify(token, stored)
    assert not verify(token + "x", stored)
    assert not verify(new_token(API_PREFIX), stored)
    assert not verify(token, "")


def test_secret_is_masked() -> None:
    secret = Secret("https://hooks.slack.com/services/T/B/s3cret")
    assert "s3cret" not in repr(secret)
    assert "s3cret" not in str(secret)
    assert "s3cret" not in f"{secret}"
    assert "s3cret" not in repr({"url": secret})
    assert secret.reveal().endswith("s3cret")
    assert json.dumps({"url": secret}, default=str) == '{"url": "**********"}'


def test_secret_equality_and_truth() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a")}) == 1
    assert not Secret("")
    assert Secret("x")
