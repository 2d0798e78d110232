"""Command-line conventions: -h, --version, help without value types on flags, usage
errors for bad values, one time format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import click
import typer
from typer.testing import CliRunner

from tidegate import __version__
from tidegate.cli import app
from tidegate.cli.base import shown_time

runner = CliRunner()


def command_paths() -> list[list[str]]:
    """Every command and group, as the words that name it."""
    paths: list[list[str]] = [[]]

    def walk(command: click.Command, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            paths.append([*path, name])
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_dash_h_is_help_everywhere_and_flags_show_no_bool() -> None:
    paths = command_paths()
    assert ["simulate"] in paths and ["run", "show"] in paths and ["hook", "list"] in paths
    for path in paths:
        short = runner.invoke(app, [*path, "-h"])
        assert short.exit_code == 0, (path, short.output)
        assert "Usage:" in short.output
        assert short.output == runner.invoke(app, [*path, "--help"]).output
        assert "<bool>" not in short.output, path
    wait = runner.invoke(app, ["simulate", "-h"]).output
    assert "--wait" in wait and "--json" in wait and "<str>" in wait  # values keep theirs


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"tidegate {__version__}"


def test_an_unknown_run_status_is_a_usage_error_naming_the_valid_ones() -> None:
    # No server is needed: the value is refused before any request.
    result = runner.invoke(app, ["runs", "--status", "bogus"], env={"TIDEGATE_URL": "http://x:1"})
    assert result.exit_code == 2
    said = " ".join(result.stderr.split())
    assert "'bogus' is not a run status" in said
    for status in ("queued", "running", "waiting", "succeeded", "failed", "timed_out"):
        assert status in said


def test_one_time_format() -> None:
    at = datetime(2026, 12, 5, 3, 21, 7, 123456, tzinfo=UTC)
    assert shown_time(at) == "2026-12-05T03:21:07Z"
    assert shown_time("2026-12-05T03:21:07.123456Z") == "2026-12-05T03:21:07Z"
    assert shown_time("2026-12-05T03:21:07+00:00") == "2026-12-05T03:21:07Z"
    later = at.astimezone(timezone(timedelta(hours=2)))
    assert shown_time(later) == "2026-12-05T03:21:07Z"  # always UTC
    assert shown_time(None) == "" and shown_time("soon") == "soon"
