"""Query parameters several routes share, with their bounds."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

# A page of a listing: large enough for a script, bounded so one request stays cheap.
Limit = Annotated[int, Query(ge=1, le=500)]
