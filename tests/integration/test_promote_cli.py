"""`tidegate promote SRC DST` against a real registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.integration.test_promote_signatures import sign
from tests.parts import (
    ImageBuilder,
    Registry,
    digest_of,
    manifest_of,
    push,
    registry_catalog_tags,
)
from tidegate.cli import app

runner = CliRunner()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    started = Registry(tmp_path / "registry").start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The CLI's environment: its own data directory, no docker logins, loopback only."""
    return {
        "TIDEGATE_DATA_DIR": str(tmp_path / "data"),
        "TIDEGATE_REGISTRY_ALLOWED_HOSTS": "127.0.0.1:*",
        "DOCKER_CONFIG": str(tmp_path / "docker"),
    }


def test_promote_by_hand_keeps_the_digest(
    tmp_path: Path, registry: Registry, env: dict[str, str]
) -> None:
    digest = push(ImageBuilder(tmp_path / "images").build("app"), f"{registry.host}/demo/app:v1")
    result = runner.invoke(
        app,
        [
            "promote",
            f"{registry.host}/demo/app:v1",
            f"{registry.host}/prod/app:production",
            "--json",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["digest"] == digest
    assert summary["source"] == f"{registry.host}/demo/app@{digest}"
    assert summary["mounted"] > 0 and summary["uploaded"] == 0
    assert digest_of(f"{registry.host}/prod/app:production") == digest

    refused = runner.invoke(
        app,
        ["promote", f"{registry.host}/demo/app:v1", "registry.example.com/acme/app:prod"],
        env=env,
    )
    assert refused.exit_code == 1
    assert "allow-list" in refused.stderr


def test_promote_by_hand_with_signatures(
    tmp_path: Path, registry: Registry, env: dict[str, str]
) -> None:
    host = registry.host
    digest = push(ImageBuilder(tmp_path / "images").build("app"), f"{host}/demo/app:v1")
    referrer, fallback, signature = sign(host, "demo/app", digest)
    command = ["promote", f"{host}/demo/app:v1", f"{host}/prod/app:production", "--signatures"]
    result = runner.invoke(app, [*command, "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["signatures"] == {
        "carried": 2,
        "referrers": [referrer],
        "tags": {f"{fallback}.sig": signature},
        "copied": 2,
        "referrers_api": False,
        "fallback_tag": fallback,
    }
    # Copied by digest within the registry: the referrer, and no tag but these.
    assert manifest_of(host, "prod/app", referrer) == manifest_of(host, "demo/app", referrer)
    assert sorted(registry_catalog_tags(registry, "prod/app")) == sorted(
        ["production", fallback, f"{fallback}.sig"]
    )

    again = runner.invoke(app, command, env=env)
    assert again.exit_code == 0, again.stderr
    assert "carried: 2 (1 referrer, 1 cosign tag; 0 copied, 2 already there; " in again.stdout
    assert "fallback tag up to date" in again.stdout
