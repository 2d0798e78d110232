"""Waiting between attempts at an outbound request: Retry-After, and jittered backoff.

Shared by every client that retries (callbacks, registries), so they all wait alike.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def jitter(backoff: float, attempt: int, max_delay: float) -> float:
    """The wait before attempt `attempt + 1`: exponential, capped, "equal jitter" (half
    fixed, half random) so the retries of many runs spread out."""
    base = min(max_delay, backoff * 2.0 ** (attempt - 1))
    return base / 2 + random.uniform(0, base / 2)
