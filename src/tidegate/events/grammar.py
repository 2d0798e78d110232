"""What a valid event field looks like, and how long it may be.

Everything a webhook sender writes is hostile. Every field of an `ImageEvent` is held to
a grammar and a length before it is stored, so that what is stored fits every database's
columns (`store/models.py` is as wide as these limits), can be served back as JSON and
shown on a page, and reaches steps only as the value it claims to be:

- names: Distribution's reference grammar (repository ≤ 255, tag ≤ 128, host[:port]);
- digests: `algorithm:encoded`, with sha256 and sha512 held to their hex lengths;
- free text (pusher, ids, media type, URLs): printable, one line, bounded;
- `raw`: valid Unicode (no lone surrogates) and nested at most `MAX_DEPTH` levels.

Pure functions: no database, no network. A problem is reported as (field, reason).

One walk of a body's JSON: within `one_pass()` (a delivery's parse and the intake's
safety net, events/intake.py) a container found clean is remembered by identity (held
for the scope, so its id is not reused), with the depth budget it passed at, and is not
walked again: the net's walk of an event's `raw` stops where the source's walk went.
The JSON is the parse's own, read and never changed (sources build events from it).
"""

from __future__ import annotations

import re
import unicodedata
from contextvars import ContextVar
from typing import Any

from tidegate.image_event import ImageEvent

# Distribution's name grammar. Its `[-]*` separator lets two alphanumeric runs meet, which
# Python's backtracking engine explores exponentially; `-+` accepts exactly the same names.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
REPOSITORY_MAX = 255
TAG_RE = re.compile(r"\w[\w.-]{0,127}", re.ASCII)  # ASCII: Go's \w, as Distribution means it
DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
# The registered algorithms' encoded parts: lower-case hex of a fixed length.
_DIGEST_HEX = {"sha256": 64, "sha512": 128}
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
HOST_RE = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\])(?::[0-9]{{1,5}})?")
# RFC 6838: type/subtype of restricted names, then parameters.
_MEDIA_TYPE_RE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(?:\s*;.*)?"
)
_URL_RE = re.compile(r"https?://[^\s]+", re.IGNORECASE)

NAME_MAX = 255  # host, digest, media type, pusher, delivery id: the columns' width
URL_MAX = 2048
MAX_DEPTH = 32  # registries nest their bodies 4 or 5 levels deep

# Unicode categories refused in free text: controls (NUL, newlines, escapes), lone
# surrogates, and line or paragraph separators. Each would make a one-line value span
# lines in a log or a page, or fail to encode.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})

# The current `one_pass`'s JSON containers found clean: id → (container, the smallest
# depth budget it was found clean with). Holding the container keeps its id unique.
_CLEAN: ContextVar[dict[int, tuple[Any, int]] | None] = ContextVar("grammar_clean", default=None)


class one_pass:  # lower case: used as a function, `with grammar.one_pass():`
    """Within: a JSON container found clean is not walked again (at a depth with no more
    room than it was found clean with). Strings are checked each time they are asked
    about: their checks (one regex or one C scan) cost less than remembering them."""

    def __enter__(self) -> None:
        self._token = _CLEAN.set({})

    def __exit__(self, *_exc: object) -> None:
        _CLEAN.reset(self._token)


def short(value: str) -> str:
    """A sender's string, short enough for an error message or a reason."""
    return value if len(value) <= 80 else value[:77] + "..."


def clip(value: str) -> str:
    """A sender's string, short and quoted (control characters escaped) for a message."""
    return repr(short(value))


def text_problem(value: str, limit: int = NAME_MAX) -> str | None:
    """Why a free-text value cannot be stored, or None: too long, or an unprintable."""
    if len(value) > limit:
        return f"is longer than {limit} characters"
    if value.isprintable():  # no Cc, Cs, Zl or Zp in it (nor other unprintables): one C pass
        return None
    for char in value:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return f"holds the character U+{ord(char):04X}, which is not allowed"
    return None


def repository_problem(value: str) -> str | None:
    return _grammar_problem(value, REPOSITORY_RE, "repository name", REPOSITORY_MAX)


def tag_problem(value: str) -> str | None:
    return _grammar_problem(value, TAG_RE, "tag") if value else None  # TAG_RE bounds it


def digest_problem(value: str) -> str | None:
    if not value:
        return None
    problem = _grammar_problem(value, DIGEST_RE, "digest")
    if problem is not None:
        return problem
    algorithm, _, encoded = value.partition(":")
    size = _DIGEST_HEX.get(algorithm)
    if size is not None and (len(encoded) != size or not _is_lower_hex(encoded)):
        return f"{clip(value)} is not a valid {algorithm} digest ({size} lower-case hex digits)"
    return None


def host_problem(value: str) -> str | None:
    return _grammar_problem(value, HOST_RE, "host[:port]")


def media_type_problem(value: str) -> str | None:
    if not value:
        return None
    problem = _grammar_problem(value, _MEDIA_TYPE_RE, "media type", ascii_only=True)
    return problem or text_problem(value)


def _grammar_problem(
    value: str, grammar: re.Pattern[str], what: str, limit: int = NAME_MAX, ascii_only: bool = False
) -> str | None:
    """Why `value` is not a valid `what`: longer than `limit`, or outside its grammar."""
    if len(value) > limit or (ascii_only and not value.isascii()) or not grammar.fullmatch(value):
        return f"{clip(value)} is not a valid {what}"
    return None


def url_problem(value: str) -> str | None:
    if not value:
        return None
    if len(value) > URL_MAX:
        return f"is longer than {URL_MAX} characters"
    if not value.isascii() or not _URL_RE.fullmatch(value):
        return f"{clip(value)} is not an http(s) URL"
    return None


def raw_problem(value: Any, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """Why a parsed JSON document cannot be stored and served back, as (path, reason).

    The path names the member (`actor.name`, `events.0.target`), or "" for the whole
    document. Iterative: a document deep enough to matter must not exhaust the stack.
    """
    clean = _CLEAN.get()
    seen: list[tuple[Any, int]] = []
    # (item, its parent's path, its key in the parent): a leaf's path is built only for
    # its problem. The order of the walk decides which problem is named: keep it.
    stack: list[tuple[Any, tuple[str, ...], str | None]] = [(value, (), None)]
    while stack:
        item, parent, key = stack.pop()
        if isinstance(item, (dict, list)):
            path = parent if key is None else (*parent, key)
            budget = max_depth - len(path)  # the levels its members may still nest
            if clean is not None:
                known = clean.get(id(item))
                if known is not None and known[0] is item and budget >= known[1]:
                    continue  # found clean within `one_pass`, with no more room than now
                seen.append((item, budget))
            if budget <= 0:
                return _dotted(path), f"is nested deeper than {max_depth} levels"
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for name, child in children:
                if isinstance(name, str) and _has_surrogate(name):
                    return _dotted(path), "has a member name that is not valid Unicode"
                stack.append((child, path, str(name)))
        elif isinstance(item, str) and _has_surrogate(item):
            path = parent if key is None else (*parent, key)
            return _dotted(path), "holds a lone surrogate (text that is not valid Unicode)"
    if clean is not None:  # the whole walk was clean: so is every container it met
        for item, budget in seen:
            known = clean.get(id(item))
            if known is None or budget < known[1]:
                clean[id(item)] = (item, budget)
    return None


def _dotted(path: tuple[str, ...]) -> str:
    shown = ".".join(path[:8]) + (".…" if len(path) > 8 else "")
    return short(shown)


def event_problem(event: ImageEvent) -> tuple[str, str] | None:
    """The first field of `event` that breaks its grammar, as (field, reason); None if valid."""
    checks = (
        ("delivery_id", text_problem(event.delivery_id)),
        ("registry", host_problem(event.registry)),
        ("repository", repository_problem(event.repository)),
        ("tag", tag_problem(event.tag)),
        ("digest", digest_problem(event.digest)),
        ("media_type", media_type_problem(event.media_type)),
        ("pusher", text_problem(event.pusher)),
        ("callback_url", url_problem(event.callback_url)),
    )
    for field, problem in checks:
        if problem is not None:
            return field, problem
    raw = raw_problem(event.raw)
    if raw is not None:
        path, reason = raw
        return f"raw.{path}" if path else "raw", reason
    return None


def _is_lower_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _has_surrogate(text: str) -> bool:
    # Fast path: encoding fails only when a surrogate is present.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
