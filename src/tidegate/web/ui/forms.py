"""Reading what a form or a query string sent, before it reaches the database.

Every value is checked where it is read: PostgreSQL refuses NUL in text, and a column
is only so wide, so a value that could not be stored or looked up is a 4xx with the
reason, never a database error.
"""

from __future__ import annotations

from starlette.datastructures import FormData

from tidegate.events.grammar import text_problem

ID_MAX = 40  # the width of every id column (store/ids.py makes them)


def field(form: FormData, name: str) -> str:
    """A text field's value; "" when it is missing or a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def is_id(value: str) -> bool:
    """Whether `value` can be one of our ids (`prefix_hex`); anything else names nothing."""
    head, sep, tail = value.partition("_")
    return bool(sep) and len(value) <= ID_MAX and head.isalpha() and tail.isalnum()


def name_problem(value: str, what: str, limit: int) -> str | None:
    """Why `value` cannot be a one-line name of at most `limit` characters, or None."""
    if not value:
        return f"the {what} is empty"
    if value != value.strip():
        return f"the {what} starts or ends with a space"
    problem = text_problem(value, limit)
    return f"the {what} {problem}" if problem else None
