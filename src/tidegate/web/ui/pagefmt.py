"""How pages write times and durations: absolute in UTC, relative in words.

Passed to templates as `fmt` (not registered on the shared Jinja environment, so other
pages' filters cannot collide with these).
"""

from __future__ import annotations

from datetime import UTC, datetime


def when(moment: datetime | None) -> str:
    """`2025-01-02 13:04 UTC`; an em dash for no time."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(moment: datetime | None) -> str:
    """For `<time datetime=…>`: machine-readable, so assistive tools can read it."""
    return moment.astimezone(UTC).isoformat() if moment is not None else ""


def span(seconds: float) -> str:
    """A duration in the two largest units that matter: `45 s`, `3 min`, `2 h 5 min`."""
    total = int(max(seconds, 0))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """`3 min ago`."""
    if moment is None:
        return "—"
    return f"{span(((now or datetime.now(UTC)) - moment).total_seconds())} ago"


def until(moment: datetime | None, now: datetime | None = None) -> str:
    """`in 2 h`, or `passed 5 min ago` for a time gone by; `no deadline` for none."""
    if moment is None:
        return "no deadline"
    left = (moment - (now or datetime.now(UTC))).total_seconds()
    return f"in {span(left)}" if left >= 0 else f"passed {span(-left)} ago"


def short_digest(digest: str) -> str:
    """`sha256:0123456789ab`: enough to tell digests apart on a list."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:12]}" if encoded else digest
