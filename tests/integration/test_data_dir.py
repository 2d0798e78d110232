"""The data directory and its files are the owner's alone, tightened at every start."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import Server


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_loose_data_dir_is_tightened_when_the_server_starts(
    tmp_path: Path, server_factory: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    loose = data / "notes.txt"
    loose.write_text("left by hand")
    loose.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="tidegate.security.datadir"):
        server = server_factory()
    assert mode(data) == 0o700
    for entry in data.iterdir():
        assert mode(entry) & 0o077 == 0, (entry, oct(mode(entry)))
    assert mode(loose) == 0o600
    assert "readable by others" in caplog.text and "(was 0755)" in caplog.text
    if server.settings.is_sqlite:
        assert mode(data / "tidegate.db") == 0o600
        assert mode(data / "dbos.db") == 0o600


def test_a_new_data_dir_is_owner_only_from_the_first_command(tmp_path: Path) -> None:
    env = {**os.environ, "TIDEGATE_DATA_DIR": str(tmp_path / "fresh")}
    env.pop("TIDEGATE_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "tidegate", "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    fresh = tmp_path / "fresh"
    assert mode(fresh) == 0o700
    files = [p for p in fresh.iterdir() if p.is_file()]
    assert any(p.name == "tidegate.db" for p in files)
    assert all(mode(p) == 0o600 for p in files), [(p.name, oct(mode(p))) for p in files]
    assert "readable by others" not in done.stderr  # nothing was loose: no warning
