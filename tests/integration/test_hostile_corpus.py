"""A hostile corpus in every event field of every source, against a workflow that uses
every field in every quoting context: nothing runs as code, what is stored comes back
intact, and every answer is 2xx or 4xx. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Server, make_settings, start_server, write_workflow

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"
REPOSITORY = "corpus/app"
FIELDS = (
    "pusher",
    "tag",
    "digest",
    "media_type",
    "delivery_id",
    "registry",
    "repository",
    "callback_url",
    "image",
    "source",
)
CONTEXTS = ("bare", "double", "single", "heredoc", "heredoc_dash")


def script() -> str:
    """Each field written to a file from each quoting context a script might use."""
    lines = []
    for field in FIELDS:
        out = f'"$TIDEGATE_WORKSPACE/{field}'
        lines += [
            f'printf %s ${{{{ event.{field} }}}} > {out}.bare"',
            f'printf %s "${{{{ event.{field} }}}}" > {out}.double"',
            f"printf %s '${{{{ event.{field} }}}}' > {out}.single\"",
            f'cat > {out}.heredoc" <<EOF',
            f"${{{{ event.{field} }}}}",
            "EOF",
            f'cat > {out}.heredoc_dash" <<-END',
            f"\t${{{{ event.{field} }}}}",
            "\tEND",
        ]
    return "\n".join(lines)


def workflow() -> str:
    body = "\n".join("          " + line for line in script().splitlines())
    return f"""
name: corpus
on_unresolved: tag
on:
  image:
    repositories: ["{REPOSITORY}"]
jobs:
  fields:
    steps:
      - run: |
{body}
"""


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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("corpus")
    settings = make_settings(root, module_database_url)
    write_workflow(settings, "corpus", workflow())
    handle = start_server(settings)
    try:
        yield handle
    finally:
        handle.stop()


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


@pytest.mark.parametrize("source", sorted(PLACES))
def test_hostile_values_never_run_and_come_back_intact(
    server: Server, source: str, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    workspaces = Path(server.settings.data_dir) / "workspaces"
    started: list[str] = []
    serial = 0
    for path in PLACES[source][1]:
        for value in corpus(marker):
            serial += 1
            body = body_with(source, path, value, serial + 1000 * len(started))
            response = server.post_hook(source, body)
            assert response.status_code in (202, 400), (path, value[:40], response.text)
            if response.status_code == 202:
                started += response.json()["runs"]
    assert started, "no hostile value was accepted: the corpus proves nothing"
    for run_id in started:
        run = server.wait_run(run_id, timeout=120)
        assert run["status"] == "succeeded", (run, server.logs(run_id))
        event = run["event"]
        with server.client() as c:
            stored = c.get(f"/api/v1/events/{event['id']}").json()
        for field in FIELDS:
            value = stored[field]
            for context in CONTEXTS:
                written = (workspaces / run_id / f"{field}.{context}").read_text()
                expected = value + "\n" if context.startswith("heredoc") else value
                assert written == expected, (run_id, field, context, value[:60])
    assert not marker.exists()
    assert not list(Path(server.settings.data_dir).parent.rglob("PWNED"))


def test_accepted_values_are_stored_exactly_as_sent(server: Server, tmp_path: Path) -> None:
    """The values the grammar admits (free text may hold quotes, `$()`, `;`…) are kept."""
    marker = tmp_path / "PWNED"
    runs: list[str] = []
    for serial, value in enumerate(corpus(marker)):
        body = body_with("dockerhub", ("push_data", "pusher"), value, 900_000 + serial)
        response = server.post_hook("dockerhub", body)
        if response.status_code != 202:
            assert response.json()["field"] == "push_data.pusher"
            continue
        (event_id,) = response.json()["events"]
        with server.client() as c:
            assert c.get(f"/api/v1/events/{event_id}").json()["pusher"] == value
        runs += response.json()["runs"]
    assert len(runs) >= 8
    for run_id in runs:
        assert server.wait_run(run_id, timeout=120)["status"] == "succeeded"
    assert not marker.exists()
