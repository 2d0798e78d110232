"""Which names a person may go by: local users and those an identity provider names."""

from __future__ import annotations

from tidegate.events.grammar import text_problem
from tidegate.store.credentials import USER_MAX

GROUP_PREFIX = "group:"  # approvers' `group:NAME` entries: never a person's name


def user_name_problem(name: str) -> str | None:
    """Why `name` cannot be a user's name, or None."""
    if not name:
        return "is empty"
    if name != name.strip():
        return "starts or ends with a space"
    if name.startswith(GROUP_PREFIX):
        return f"starts with {GROUP_PREFIX!r}, which approver lists use for groups"
    return text_problem(name, USER_MAX)
