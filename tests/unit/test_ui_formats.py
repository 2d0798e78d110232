"""Durations on the run pages: precise and short, as CI systems write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tidegate.web.ui.formats import duration, seconds


@pytest.mark.parametrize(
    ("total", "text"),
    [
        (0.0, "0ms"),
        (0.85, "850ms"),
        (42.9, "42s"),
        (185, "3m 05s"),
        (2 * 3600 + 7 * 60, "2h 07m"),
        (3 * 86400 + 4 * 3600, "3d 4h"),
    ],
)
def test_seconds(total: float, text: str) -> None:
    assert seconds(total) == text


def test_a_duration_runs_to_now_until_it_finishes() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert duration(None, None) == ""
    assert duration(start, start + timedelta(seconds=90)) == "1m 30s"
    assert duration(start, None, now=start + timedelta(seconds=5)) == "5s"
