"""Tracebacks for the log without what the exceptions said.

An exception's text can carry what a webhook sender wrote or a secret: a database
driver's DETAIL line quotes the values of a failed insert, an HTTP error quotes its URL
(a Docker Hub callback URL is a secret). Where an unexpected exception is logged, its
types and stack frames say where it happened; its text stays out.
"""

from __future__ import annotations

import traceback


def scrubbed(exc: BaseException) -> str:
    """The exception chain as types and stack frames (file, line, function, code)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current)
        parts.append(f"{kind.__module__}.{kind.__qualname__} (message withheld)\n")
        parts.extend(traceback.format_list(traceback.extract_tb(current.__traceback__)))
        current = current.__cause__ or current.__context__
    return "".join(parts)
