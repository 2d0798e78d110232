"""Compiled filter patterns: repository and registry globs, tag globs, regexes and ranges.

Kept apart from `match.py` so that `schema.py` can compile patterns while validating
(a bad regex is a validation error) without importing the matcher, which imports it.

Every pattern runs on RE2, in time linear in the tag or name: patterns come from workflow
files but the text they run against comes from webhook senders, and matching happens in
the intake. On Python's backtracking engine `/(a+)+$/` took 0.49 s for a 24-character
tag and doubled with each character more; a glob such as `*a*a*a*a*a*` grows as a
power of the length. RE2 has no backreferences or lookarounds: such a regex is refused
when the workflow is validated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import re2

from tidegate.errors import WorkflowError
from tidegate.workflows.semver import parse_range

TagMatcher = Callable[[str], bool]

_RANGE_START = (">", "<", "=", "!", "^", "~")


def _glob_regex(pattern: str, *, sep: str) -> str:
    """fnmatch-style, except that `*` and `?` stop at `sep` and `**` crosses it."""
    out: list[str] = []
    i, n = 0, len(pattern)
    not_sep = f"[^{re.escape(sep)}]"
    while i < n:
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append(f"{not_sep}*")
            i += 1
        elif c == "?":
            out.append(not_sep)
            i += 1
        elif c == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            out.append(("[^" if negate else "[") + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _re2(regex: str, *, ignore_case: bool = False) -> Any:
    """RE2's compiled pattern; `re2.error` (its message as bytes) when RE2 refuses it."""
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the user's error, reported by us
    options.case_sensitive = not ignore_case
    return re2.compile(regex, options)


def _reason(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


@lru_cache(maxsize=1024)
def compile_glob(pattern: str, *, sep: str = "/", ignore_case: bool = False) -> Any:
    """A glob as a compiled RE2 pattern for `fullmatch`; WorkflowError for a malformed class."""
    try:
        return _re2(_glob_regex(pattern, sep=sep), ignore_case=ignore_case)
    except re2.error as exc:
        raise WorkflowError(f"invalid glob '{pattern}': {_reason(exc)}") from exc


def repository_matches(pattern: str, repository: str) -> bool:
    """`*` stays within one path segment, `**` spans several; case-sensitive."""
    return compile_glob(pattern).fullmatch(repository) is not None


def registry_matches(pattern: str, registry: str) -> bool:
    """Host globs, case-insensitive as DNS is; a pattern without a port accepts any port."""
    if ":" not in pattern:
        registry = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    return compile_glob(pattern, sep="/", ignore_case=True).fullmatch(registry) is not None


def tag_pattern_kind(pattern: str) -> str:
    """ "regex" for `/…/`, "range" when it starts with an operator, else "glob"."""
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        return "regex"
    if pattern.startswith(_RANGE_START):
        return "range"
    return "glob"


@lru_cache(maxsize=1024)
def compile_tag_pattern(pattern: str) -> TagMatcher:
    """Compile a tag pattern; raises WorkflowError for a bad regex or range."""
    kind = tag_pattern_kind(pattern)
    if kind == "regex":
        try:
            regex = _re2(pattern[1:-1])
        except re2.error as exc:
            raise WorkflowError(
                f"invalid tag regex '{pattern}': {_reason(exc)} (tag regexes use RE2 syntax, "
                "which runs in linear time: no backreferences or lookarounds)"
            ) from exc
        return lambda tag: regex.fullmatch(tag) is not None
    if kind == "range":
        return parse_range(pattern).contains
    glob = compile_glob(pattern)
    return lambda tag: glob.fullmatch(tag) is not None


def tag_matches(pattern: str, tag: str) -> bool:
    """Whether `tag` satisfies one tag pattern (glob, `/regex/` or semver range).

    An empty tag (a push by digest only) matches just the pattern ``""``. A multi-arch
    push sends one untagged manifest per platform before the tagged index: workflows
    see the tagged push once, and digest-only pushes only when they ask with ``""``.
    """
    if not tag:
        return pattern == ""
    return compile_tag_pattern(pattern)(tag)
