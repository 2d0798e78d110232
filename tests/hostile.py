"""The hostile corpus: values that have broken parsers, storage, shells or pages, and
where each source keeps each event field, to put them there.

Shared by the corpus and secrets tests and by bench/fuzz.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
REPOSITORY = "corpus/app"


def corpus(marker: Path) -> list[str]:
    touch = f"touch {marker}"
    return [
        f'x"; {touch}; echo "',
        f"x'; {touch}; echo '",
        f"$({touch})",
        f"`{touch}`",
        f"a; {touch}",
        f"a && {touch}",
        f"a | {touch}",
        f"a\n{touch}\n",
        f"EOF\n{touch}\nEOF",
        "nul\x00byte",
        "lone\ud800surrogate",
        "line\u2028separator",
        "x" * 10_000,
        "../../etc/passwd",
        "${HOME}$PATH",
        "*",
        "\\",
        "-n",
        "  spaced  out  ",
    ]


# Where each source keeps each event field, and the recorded body it starts from.
PLACES: dict[str, tuple[str, list[tuple[str, ...]]]] = {
    "dockerhub": (
        "dockerhub/docs_example.json",
        [
            ("push_data", "pusher"),
            ("push_data", "tag"),
            ("push_data", "media_type"),
            ("repository", "repo_name"),
            ("callback_url",),
            ("repository", "description"),  # stored in raw only
        ],
    ),
    "registry": (
        "registry/oci_index_v2.json",
        [
            ("events", 0, "id"),
            ("events", 0, "actor", "name"),
            ("events", 0, "target", "tag"),
            ("events", 0, "target", "digest"),
            ("events", 0, "target", "mediaType"),
            ("events", 0, "target", "repository"),
            ("events", 0, "request", "host"),
            ("events", 0, "timestamp"),
            ("events", 0, "request", "useragent"),  # stored in raw only
        ],
    ),
}


def body_with(source: str, path: tuple[Any, ...], value: str, serial: int) -> bytes:
    fixture, _ = PLACES[source]
    doc = copy.deepcopy(json.loads((FIXTURES / fixture).read_text()))
    if source == "dockerhub":
        doc["repository"]["repo_name"] = REPOSITORY
        doc["push_data"]["pushed_at"] = 1_700_000_000 + serial  # a new delivery each time
    else:
        event = doc["events"][0]
        event["id"] = f"corpus-{serial}"
        event["target"]["repository"] = REPOSITORY
        doc["events"] = [event]
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    # A lone surrogate travels as its JSON escape, as a sender would write it.
    return json.dumps(doc, ensure_ascii=True).encode()
