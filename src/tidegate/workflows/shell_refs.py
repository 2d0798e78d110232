"""What stands in a shell script for a `${{ }}` value: a variable reference quoted for its
context, or a Refusal saying why no reference can carry the value there."""

from __future__ import annotations

from dataclasses import dataclass

SAFE_FORMS = "read a variable instead: $TIDEGATE_PUSHER, $TIDEGATE_TAG, … or one set with env:"


# References by context; "V" stands for the variable's name.
WORD = '"${V}"'
IN_DOUBLE = "${V}"
IN_SINGLE = "'\"${V}\"'"
IN_ANSI = "'\"${V}\"$'"


@dataclass(frozen=True)
class Refusal:
    """Why no reference can carry the value there; reads after the expression."""

    why: str


ARITHMETIC = Refusal(
    "is in arithmetic ($(( )), (( )), [[ -eq ]], an array subscript or ${x:offset}), where "
    "bash evaluates a value and can run commands from it; set a variable with env: and "
    "check it is a number before using it there"
)
ESCAPED = Refusal(
    "follows a backslash, which would escape the quoting that keeps its value one word; "
    "remove it (write \\\\ for a literal backslash)"
)
DELIMITER = Refusal("cannot be part of a heredoc delimiter")


def quoted_heredoc(delimiter: str) -> Refusal:
    return Refusal(
        f"is in a quoted heredoc (<<'{delimiter}'), where the shell expands nothing, so "
        f"its value could only be spliced into the script; use an unquoted heredoc "
        f"(<<{delimiter}), or {SAFE_FORMS}"
    )
