"""Compiled filter patterns: repository and registry globs, tag globs, regexes and ranges.

Kept apart from `match.py` so that `schema.py` can compile patterns while validating
(a bad regex is a validation error) without importing the matcher, which imports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

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


@lru_cache(maxsize=1024)
def compile_glob(pattern: str, *, sep: str = "/", ignore_case: bool = False) -> re.Pattern[str]:
    """A glob as a regex for `fullmatch`; raises WorkflowError for a malformed class."""
    try:
        return re.compile(_glob_regex(pattern, sep=sep), re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise WorkflowError(f"invalid glob '{pattern}': {exc}") from exc


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
            regex = re.compile(pattern[1:-1])
        except re.error as exc:
            raise WorkflowError(f"invalid tag regex '{pattern}': {exc}") from exc
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
