"""`tidegate promote` reads its settings without pydantic (cli/registry_settings.py
`registry_settings`): from the same environment and tidegate.toml, it must find what
`load_settings` finds for the registry client, and refuse what it refuses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tidegate.cli.registry_settings import registry_settings
from tidegate.config import load_settings
from tidegate.errors import TidegateError

FIELDS = ("registry_allowed_hosts", "insecure_registries", "outbound_timeout", "docker_config")

TOML = """
outbound_timeout = 7
REGISTRY_ALLOWED_HOSTS = ["ghcr.io", "127.0.0.1:*"]
insecure_registries = "a.internal:5000, b.internal"
docker_config = "/etc/tidegate/docker.json"
[registry_logins]
"ghcr.io" = "bot:s3cret:with-colon"
"quay.io" = "robot:pw"
"""

CASES = {
    "nothing set": ({}, None),
    "environment": (
        {
            "TIDEGATE_REGISTRY_ALLOWED_HOSTS": " ghcr.io , *.example.com,,",
            "TIDEGATE_INSECURE_REGISTRIES": "10.0.0.5:5000",
            "tidegate_outbound_timeout": " 2.5 ",  # any case, as pydantic-settings reads it
            "TIDEGATE_DOCKER_CONFIG": "/run/docker/config.json",
            "TIDEGATE_REGISTRY_LOGINS": '{"ghcr.io": "u:p"}',
        },
        None,
    ),
    "file": ({}, TOML),
    "environment over file, logins merged": (
        {
            "TIDEGATE_OUTBOUND_TIMEOUT": "1_0",
            "TIDEGATE_REGISTRY_ALLOWED_HOSTS": "",
            "TIDEGATE_REGISTRY_LOGINS": '{"ghcr.io": "other:pw", "docker.io": "me:pw"}',
        },
        TOML,
    ),
    "DOCKER_CONFIG": ({"DOCKER_CONFIG": "/home/ci/.docker-alt"}, None),
}


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory to run in, with an environment of no TIDEGATE_ or DOCKER_ variables."""
    for key in list(os.environ):
        if key.upper().startswith(("TIDEGATE_", "DOCKER_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", CASES)
def test_reads_what_settings_read(here: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    env, toml = CASES[case]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if toml is not None:
        (here / "tidegate.toml").write_text(toml)
    full, light = load_settings(), registry_settings()
    for name in FIELDS:
        assert getattr(light, name) == getattr(full, name), name
    assert light.logins() == full.logins()


REFUSED = {
    "TIDEGATE_OUTBOUND_TIMEOUT": ({"TIDEGATE_OUTBOUND_TIMEOUT": "soon"}, None),
    "TIDEGATE_REGISTRY_LOGINS": ({"TIDEGATE_REGISTRY_LOGINS": "user:pw"}, None),
    "TIDEGATE_REGISTRY_LOGINS ": ({"TIDEGATE_REGISTRY_LOGINS": '{"ghcr.io": 5}'}, None),
    "registry_allowed_hosts in tidegate.toml": ({}, "registry_allowed_hosts = 5\n"),
    "tidegate.toml": ({}, "outbound_timeout = \n"),
}


@pytest.mark.parametrize("where", REFUSED)
def test_refuses_what_settings_refuse(
    here: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    env, toml = REFUSED[where]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if toml is not None:
        (here / "tidegate.toml").write_text(toml)
    with pytest.raises(ValueError):  # pydantic's, pydantic-settings' or tomllib's
        load_settings()
    with pytest.raises(TidegateError) as refused:
        registry_settings()
    assert refused.value.message.startswith(where.strip()), refused.value.message
