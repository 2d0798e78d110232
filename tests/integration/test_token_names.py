"""`tidegate token create` refuses user names its table cannot hold, on either database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tidegate.cli import app

runner = CliRunner()


@pytest.mark.parametrize("user", ["u" * 201, "nul\x00name", "two\nlines"])
def test_bad_user_names_are_a_usage_error(tmp_path: Path, database_url: str, user: str) -> None:
    env = {"TIDEGATE_DATA_DIR": str(tmp_path / "data"), "TIDEGATE_DATABASE_URL": database_url}
    result = runner.invoke(app, ["token", "create", user], env=env)
    assert result.exit_code == 2, result.output
    assert "user name" in result.stderr
    listed = runner.invoke(app, ["token", "list", "--json"], env=env)
    assert listed.exit_code == 0 and listed.stdout.strip() == "[]"


def test_a_long_name_within_the_limit_is_kept(tmp_path: Path, database_url: str) -> None:
    env = {"TIDEGATE_DATA_DIR": str(tmp_path / "data"), "TIDEGATE_DATABASE_URL": database_url}
    result = runner.invoke(app, ["token", "create", "u" * 200], env=env)
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["token", "list", "--json"], env=env)
    assert '"user": "' + "u" * 200 + '"' in listed.stdout
