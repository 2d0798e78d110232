"""The JSON depth scanner: exact for valid JSON, linear for any bytes."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest

from tidegate.security.jsondepth import exceeds_depth, json_depth


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("1", 0),
        ('"[[{"', 0),
        ("{}", 1),
        ("[[], {}]", 2),
        ('{"a": [1, "]]]", {"b": "\\"[["}]}', 3),
        ('["\\\\", [[]]]', 3),  # an escaped backslash, then the string ends
        ('["\\"", [[[]]]]', 4),  # an escaped quote does not end the string
        ('["\\\\\\"[[[["]', 1),
    ],
)
def test_counts_levels_outside_strings(text: str, depth: int) -> None:
    assert json_depth(text.encode()) == depth
    if text:
        assert depth_of(json.loads(text)) == depth


def test_agrees_with_the_parser_on_random_documents() -> None:
    rng = random.Random(7)
    scalars = ['x"[', "{]", "\\", '\\"', "é\\u", 1, None]

    def value(level: int) -> Any:
        if level > 7 or rng.random() < 0.3:
            return rng.choice(scalars)
        if rng.random() < 0.5:
            return [value(level + 1) for _ in range(3)]
        return {f'k{i}["': value(level + 1) for i in range(3)}

    for _ in range(500):
        document = value(0)
        text = json.dumps(document, ensure_ascii=rng.random() < 0.5)
        encoding = rng.choice(["utf-8", "utf-8-sig", "utf-16", "utf-32-be"])
        assert json_depth(text.encode(encoding)) == depth_of(document), (encoding, text)


def test_exceeds_depth_is_strict_about_the_limit() -> None:
    assert not exceeds_depth(b"[" * 32 + b"]" * 32, 32)
    assert exceeds_depth(b"[" * 33 + b"]" * 33, 32)
    assert exceeds_depth(b'{"a":' * 40, 32)  # unterminated: still counted


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 2**20,
        b'"' + b'\\"' * 2**19,  # a string that never ends, all escapes
        b'["' + b'a\\"[' * 2**18 + b'"]',
        json.dumps([{"a": "x" * 20, "b": [1, {"c": "[]"}]}] * 20_000).encode(),
    ],
)
def test_a_mebibyte_takes_milliseconds(data: bytes) -> None:
    started = time.process_time()
    json_depth(data)
    exceeds_depth(data, 32)
    assert time.process_time() - started < 1.0
