"""How the run pages write durations: precise and short, as CI systems show them
(`3m 05s`, `850ms`). Times and digests are written as every page writes them (pagefmt)."""

from __future__ import annotations

from datetime import UTC, datetime

from tidegate.store.runs import LIVE


def seconds(total: float) -> str:
    """`850ms`, `42s`, `3m 05s`, `2h 07m`, `3d 4h`."""
    if total < 1:
        return f"{max(int(total * 1000), 0)}ms"
    whole = int(total)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def duration(
    started: datetime | None, finished: datetime | None, now: datetime | None = None
) -> str:
    """From start to finish, or to now while it goes on; "" before it started."""
    if started is None:
        return ""
    end = finished or now or datetime.now(UTC)
    return seconds((end - started).total_seconds())


def is_live(status: str) -> bool:
    return status in LIVE
