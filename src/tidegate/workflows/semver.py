"""Lenient semantic versions for image tags, and npm-style version ranges.

Tags are parsed leniently: a leading ``v`` is allowed and a missing minor or patch is 0,
so ``v1.2``, ``1.2.0`` and ``1.2`` are the same version. Build metadata (``+…``) is
ignored. Anything else (``latest``, ``1.2.3.4``, ``stable-2``) is not a version.

A range is comparator sets joined by ``||`` (OR); a set is comparators separated by
spaces (AND). Operators: ``>= <= > < = !=``, ``^`` (compatible) and ``~`` (same minor).
Partial versions expand as npm does: ``<2`` means ``<2.0.0-0``, ``<=1.2`` means
``<1.3.0-0``, ``>1.2`` means ``>=1.3.0``, ``=1.2`` (or a bare ``1.2``) means
``>=1.2.0 <1.3.0-0``. A prerelease tag (``1.3.0-rc.1``) only satisfies a set that itself
names a prerelease of the same major.minor.patch (the npm rule), so release ranges do
not pick up release candidates by accident. Docker variant tags such as ``1.25-alpine``
parse as prereleases and are excluded the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tidegate.errors import WorkflowError

_IDENT = r"[0-9A-Za-z-]+"
_DOTTED = rf"{_IDENT}(?:\.{_IDENT})*"
_VERSION = re.compile(
    rf"[vV]?(?P<major>\d+)(?:\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?)?"
    rf"(?:-(?P<pre>{_DOTTED}))?(?:\+{_DOTTED})?"
)
_COMPARATOR = re.compile(r"\s*(?P<op>>=|<=|!=|>|<|=|\^|~)?\s*(?P<version>[^\s<>=!^~|]+)\s*")

PreId = tuple[int, int | str]  # (0, number) sorts before (1, text), as semver requires


@dataclass(frozen=True)
class Version:
    """A parsed version; `key()` orders versions by semver precedence."""

    major: int
    minor: int
    patch: int
    # () is a release; `key()` sorts a release after its prereleases.
    prerelease: tuple[PreId, ...] = ()

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def key(self) -> tuple[int, int, int, int, tuple[PreId, ...]]:
        return (*self.release, 0 if self.prerelease else 1, self.prerelease)


def _prerelease(text: str | None) -> tuple[PreId, ...]:
    if not text:
        return ()
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in text.split("."))


def _parse(text: str) -> tuple[Version, int] | None:
    """The version and how many of major/minor/patch were written (for partial ranges)."""
    m = _VERSION.fullmatch(text)
    if m is None:
        return None
    given = 1 + (m["minor"] is not None) + (m["patch"] is not None)
    version = Version(
        int(m["major"]), int(m["minor"] or 0), int(m["patch"] or 0), _prerelease(m["pre"])
    )
    return version, given


def parse_version(tag: str) -> Version | None:
    """Parse a tag leniently (see the module docstring); None when it is not a version."""
    parsed = _parse(tag)
    return parsed[0] if parsed else None


_LOWEST_PRE: tuple[PreId, ...] = ((0, 0),)  # "-0": below every prerelease of a release


@dataclass(frozen=True)
class _Bound:
    op: str  # one of < <= > >=
    version: Version

    def test(self, v: Version) -> bool:
        a, b = v.key(), self.version.key()
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[self.op]


@dataclass(frozen=True)
class _Comparator:
    """All bounds hold (or, when negated, not all of them); `named` is what the user wrote."""

    bounds: tuple[_Bound, ...]
    named: Version
    negated: bool = False

    def test(self, v: Version) -> bool:
        inside = all(bound.test(v) for bound in self.bounds)
        return inside != self.negated


def _bump(version: Version, given: int) -> Version:
    """The first version past a partial one: 1.2 -> 1.3.0-0, 1 -> 2.0.0-0."""
    if given == 1:
        return Version(version.major + 1, 0, 0, _LOWEST_PRE)
    if given == 2:
        return Version(version.major, version.minor + 1, 0, _LOWEST_PRE)
    return Version(version.major, version.minor, version.patch + 1, _LOWEST_PRE)


def _caret_ceiling(v: Version, given: int) -> Version:
    # ^ allows changes right of the first non-zero part that was written.
    if v.major > 0 or given == 1:
        return Version(v.major + 1, 0, 0, _LOWEST_PRE)
    if v.minor > 0 or given == 2:
        return Version(0, v.minor + 1, 0, _LOWEST_PRE)
    return Version(0, 0, v.patch + 1, _LOWEST_PRE)


def _comparator(op: str, v: Version, given: int) -> _Comparator:
    exact = given == 3
    if op in ("=", "!="):
        bounds = (
            (_Bound(">=", v), _Bound("<=", v))
            if exact
            else (_Bound(">=", v), _Bound("<", _bump(v, given)))
        )
        return _Comparator(bounds, v, negated=op == "!=")
    if op == ">":
        return _Comparator((_Bound(">", v) if exact else _Bound(">=", _bump(v, given)),), v)
    if op == ">=":
        return _Comparator((_Bound(">=", v),), v)
    if op == "<":
        lowest = v if v.prerelease or exact else Version(*v.release, _LOWEST_PRE)
        return _Comparator((_Bound("<", lowest),), v)
    if op == "<=":
        return _Comparator((_Bound("<=", v) if exact else _Bound("<", _bump(v, given)),), v)
    if op == "~":
        ceiling = _bump(v, 2 if given >= 2 else 1)
        return _Comparator((_Bound(">=", v), _Bound("<", ceiling)), v)
    # "^"
    return _Comparator((_Bound(">=", v), _Bound("<", _caret_ceiling(v, given))), v)


@dataclass(frozen=True)
class Range:
    """A compiled range; `contains(tag)` is False for tags that are not versions."""

    source: str
    sets: tuple[tuple[_Comparator, ...], ...]

    def contains(self, tag: str) -> bool:
        version = parse_version(tag)
        if version is None:
            return False
        return any(self._set_contains(comparators, version) for comparators in self.sets)

    @staticmethod
    def _set_contains(comparators: tuple[_Comparator, ...], v: Version) -> bool:
        if v.prerelease and not any(
            c.named.prerelease and c.named.release == v.release for c in comparators
        ):
            return False
        return all(c.test(v) for c in comparators)


@lru_cache(maxsize=512)
def parse_range(source: str) -> Range:
    """Compile a range such as ``>=1.2 <2 || ^3.0``; raises WorkflowError when malformed."""
    sets: list[tuple[_Comparator, ...]] = []
    for part in source.split("||"):
        comparators: list[_Comparator] = []
        pos = 0
        text = part.strip()
        while pos < len(text):
            m = _COMPARATOR.match(text, pos)
            if m is None:
                raise WorkflowError(f"invalid version range {source!r}: cannot read {text[pos:]!r}")
            parsed = _parse(m["version"])
            if parsed is None:
                raise WorkflowError(
                    f"invalid version range {source!r}: {m['version']!r} is not a version"
                )
            comparators.append(_comparator(m["op"] or "=", *parsed))
            pos = m.end()
        if not comparators:
            raise WorkflowError(f"invalid version range {source!r}: empty side of '||'")
        sets.append(tuple(comparators))
    return Range(source, tuple(sets))
