"""How deeply a JSON text nests, counted before any parser sees it.

Parsers, validators and serializers recurse once per level, so a small body nested
deeply enough exhausts the stack or the CPU of every later walk over the value. This
counts in a few linear passes at C speed, each a copy of the bytes at most.

The count is exact for valid JSON (`{}` and `[]` are 1, a scalar 0). For invalid JSON
it is some number; a parser refuses that text anyway.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import accumulate

_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _utf8(data: bytes) -> bytes:
    # json.loads also reads UTF-16 and UTF-32; their quotes and backslashes are not
    # single bytes, so scan what the parser would read, re-encoded.
    encoding = json.detect_encoding(data)
    if encoding in ("utf-8", "utf-8-sig"):
        return data
    try:
        return data.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
    except UnicodeError:
        return data  # not text: the parser refuses it


def _levels(data: bytes) -> Iterator[int]:
    """The depth after each bracket outside strings."""
    # Escaped backslashes first, then escaped quotes: what is left of a string runs from
    # one quote to the next, so every other piece between quotes is outside strings.
    text = _utf8(data).replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(text.split(b'"')[::2])
    brackets = outside.translate(None, _NOT_BRACKET)
    return accumulate(map(_STEP.__getitem__, brackets))


def json_depth(data: bytes) -> int:
    """How many arrays and objects the deepest value of `data` is inside."""
    return max(_levels(data), default=0)


def exceeds_depth(data: bytes, limit: int) -> bool:
    """Whether `data` nests deeper than `limit` levels; stops at the first level past it."""
    return any(map(limit.__lt__, _levels(data)))
