"""Credentials from docker config.json (auths, credHelpers, credsStore) and given directly."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tidegate.registry import Credentials, CredentialStore

# A credential helper as Docker's protocol has it: `get`, the server URL on stdin, JSON
# out; "credentials not found in native keychain" and exit 1 when it holds nothing.
HELPER = r"""#!/bin/sh
read -r server
echo "$server" >> "$(dirname "$0")/asked"
case "$server" in
  https://index.docker.io/v1/)
    echo '{"ServerURL":"https://index.docker.io/v1/","Username":"hubuser","Secret":"hub-secret"}' ;;
  ghcr.io) echo '{"ServerURL":"ghcr.io","Username":"gh","Secret":"gh-secret"}' ;;
  acr.example) echo '{"ServerURL":"acr.example","Username":"<token>","Secret":"refresh-tok"}' ;;
  broken.example) echo 'keychain locked' >&2; exit 3 ;;
  garbled.example) echo 'not json' ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
"""


@pytest.fixture
def helper_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker-credential-test"
    script.write_text(HELPER)
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_auths_base64_and_docker_hub_key(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": b64("hubuser:p4ss:with:colons")},
                "https://ghcr.io": {"auth": b64("gh:gh-secret")},
                "127.0.0.1:5903": {"username": "user", "password": "pass"},
            }
        },
    )
    store = CredentialStore(path)
    for host in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        assert store(host) == Credentials("hubuser", "p4ss:with:colons")
    assert store("ghcr.io") == Credentials("gh", "gh-secret")
    assert store("127.0.0.1:5903") == Credentials("user", "pass")
    lookup = store.lookup("127.0.0.1:5903")
    assert (lookup.source, lookup.problem) == ("config.json auths", None)
    assert store("quay.io") is None
    assert store.lookup("quay.io").problem is None  # simply anonymous


def test_auths_identity_token(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {"auths": {"acr.example": {"auth": b64("00000000-0000:"), "identitytoken": "rt"}}},
    )
    creds = CredentialStore(path)("acr.example")
    assert creds is not None
    assert (creds.username, creds.password, creds.identity_token) == ("00000000-0000", "", "rt")


def test_bad_auth_entry_is_reported_not_raised(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"auths": {"ghcr.io": {"auth": "%%%not-base64"}}})
    lookup = CredentialStore(path).lookup("ghcr.io")
    assert lookup.credentials is None
    assert "not base64" in (lookup.problem or "")


def test_missing_and_invalid_config(tmp_path: Path) -> None:
    assert CredentialStore(tmp_path / "absent.json").lookup("ghcr.io").problem is None
    assert CredentialStore(None)("ghcr.io") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    lookup = CredentialStore(bad).lookup("ghcr.io")
    assert lookup.credentials is None
    assert "cannot read" in (lookup.problem or "")


def test_cred_helpers_and_creds_store(tmp_path: Path, helper_env: dict[str, str]) -> None:
    path = write_config(
        tmp_path,
        {
            "credHelpers": {"ghcr.io": "test", "https://index.docker.io/v1/": "test"},
            "auths": {"ghcr.io": {"auth": b64("old:old-secret")}, "quay.io": {"auth": b64("q:q")}},
        },
    )
    store = CredentialStore(path, env=helper_env)
    lookup = store.lookup("ghcr.io")
    assert lookup.credentials == Credentials("gh", "gh-secret")  # the helper wins over auths
    assert lookup.source == "docker-credential-test"
    assert store("docker.io") == Credentials("hubuser", "hub-secret")
    assert store("quay.io") == Credentials("q", "q")  # no helper for quay.io: auths
    asked = (tmp_path / "bin" / "asked").read_text().split()
    assert asked == ["ghcr.io", "https://index.docker.io/v1/"]  # Docker Hub under its key


def test_creds_store_for_every_host(tmp_path: Path, helper_env: dict[str, str]) -> None:
    path = write_config(tmp_path, {"credsStore": "test", "auths": {"ghcr.io": {}}})
    store = CredentialStore(path, env=helper_env)
    assert store("ghcr.io") == Credentials("gh", "gh-secret")
    not_found = store.lookup("other.example")
    assert (not_found.credentials, not_found.problem) == (None, None)
    token = store("acr.example")
    assert token is not None
    assert (token.username, token.identity_token) == ("<token>", "refresh-tok")


@pytest.mark.parametrize(
    ("host", "helper", "problem"),
    [
        ("ghcr.io", "absent", "docker-credential-absent is not installed"),
        ("broken.example", "test", "failed (exit 3): keychain locked"),
        ("garbled.example", "test", "other than its JSON answer"),
    ],
)
def test_failing_helper_falls_back_with_the_reason(
    tmp_path: Path,
    helper_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    host: str,
    helper: str,
    problem: str,
) -> None:
    path = write_config(tmp_path, {"credHelpers": {host: helper}})
    with caplog.at_level(logging.WARNING):
        lookup = CredentialStore(path, env=helper_env).lookup(host)
    assert (lookup.credentials, lookup.source) == (None, "anonymous")
    assert problem in (lookup.problem or "")
    assert problem in caplog.text


def test_failing_helper_falls_back_to_auths(tmp_path: Path, helper_env: dict[str, str]) -> None:
    path = write_config(
        tmp_path,
        {"credsStore": "absent", "auths": {"ghcr.io": {"username": "u", "password": "p"}}},
    )
    lookup = CredentialStore(path, env=helper_env).lookup("ghcr.io")
    assert lookup.credentials == Credentials("u", "p")
    assert "not installed" in (lookup.problem or "")


def test_given_credentials_take_precedence(tmp_path: Path, helper_env: dict[str, str]) -> None:
    path = write_config(
        tmp_path,
        {"credsStore": "test", "auths": {"https://index.docker.io/v1/": {"auth": b64("a:b")}}},
    )
    store = CredentialStore(
        path,
        {"ghcr.io": ("bot", "s3cret"), "index.docker.io": ("hub-bot", "hub-s3cret")},
        env=helper_env,
    )
    assert store.lookup("ghcr.io").source == "settings"
    assert store("ghcr.io") == Credentials("bot", "s3cret")
    assert store("docker.io") == Credentials("hub-bot", "hub-s3cret")
    assert not (tmp_path / "bin" / "asked").exists()  # the helper was never run


def test_repr_masks_secrets() -> None:
    creds = Credentials("alice", "hunter2")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "hunter2" not in text
        assert "alice" in text and "***" in text
    token = Credentials("<token>", identity_token="refresh-me")
    assert "refresh-me" not in repr(token)
    assert "identity_token='***'" in repr(token)
