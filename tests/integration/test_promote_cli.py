"""`tidegate promote SRC DST` against a real registry."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import require
from tests.parts import ImageBuilder, Registry, digest_of, missing_tools, push
from tidegate.cli import app

runner = CliRunner()


def test_promote_by_hand_keeps_the_digest(tmp_path: Path) -> None:
    require(not missing_tools(), f"missing tools: {missing_tools()}")
    registry = Registry(port=5902, root=tmp_path / "registry").start()
    env = {
        "TIDEGATE_DATA_DIR": str(tmp_path / "data"),
        "TIDEGATE_REGISTRY_ALLOWED_HOSTS": "127.0.0.1",
        "DOCKER_CONFIG": str(tmp_path / "docker"),
    }
    try:
        digest = push(
            ImageBuilder(tmp_path / "images").build("app"), f"{registry.host}/demo/app:v1"
        )
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
    finally:
        registry.stop()
