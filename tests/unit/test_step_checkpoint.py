"""A step's row is its checkpoint: what a replayed job workflow reads of each attempt."""

from __future__ import annotations

import pytest

from tidegate.engine.decisions import recorded
from tidegate.status import Status


@pytest.mark.parametrize(
    ("status", "attempts", "attempt", "expected"),
    [
        # No row yet, or one that has not run: the attempt runs.
        (None, 0, 1, None),
        ("queued", 0, 1, None),
        # In flight at the crash: it runs once more.
        ("running", 1, 1, None),
        ("running", 2, 2, None),
        # Ended: read back, never run again.
        ("succeeded", 1, 1, Status.SUCCEEDED),
        ("failed", 1, 1, Status.FAILED),
        ("undelivered", 1, 1, Status.UNDELIVERED),
        ("timed_out", 3, 3, Status.TIMED_OUT),
        # Recorded before any attempt ran (skipped, cancelled, an `if` error).
        ("skipped", 0, 1, Status.SKIPPED),
        ("cancelled", 0, 1, Status.CANCELLED),
        # A later attempt began: this one failed (the row now holds the later one).
        ("succeeded", 2, 1, Status.FAILED),
        ("running", 3, 1, Status.FAILED),
        ("cancelled", 2, 1, Status.FAILED),
        # The previous attempt's outcome is not this attempt's: it runs.
        ("failed", 1, 2, None),
        ("timed_out", 2, 3, None),
    ],
)
def test_recorded(status: str | None, attempts: int, attempt: int, expected: Status | None) -> None:
    assert recorded(status, attempts, attempt) == expected
