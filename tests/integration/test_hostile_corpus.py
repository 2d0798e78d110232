"""A hostile corpus in every event field of every source, against a workflow that uses
every field in every quoting context: nothing runs as code, what is stored comes back
intact, and every answer is 2xx or 4xx. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile import PLACES, REPOSITORY, body_with, corpus
from tests.support import Server, make_settings, start_server, write_workflow

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


def script(out_dir: Path) -> str:
    """Each field written to a file from each quoting context a script might use, in a
    folder of the run's own outside its workspace (removed when the run succeeds)."""
    lines = [f'mkdir -p "{out_dir}/$TIDEGATE_RUN_ID"']
    for field in FIELDS:
        out = f'"{out_dir}/$TIDEGATE_RUN_ID/{field}'
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


def workflow(out_dir: Path) -> str:
    body = "\n".join("          " + line for line in script(out_dir).splitlines())
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("corpus")
    settings = make_settings(root, module_database_url)
    write_workflow(settings, "corpus", workflow(root / "out"))
    handle = start_server(settings)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.mark.parametrize("source", sorted(PLACES))
def test_hostile_values_never_run_and_come_back_intact(
    server: Server, source: str, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    written_by = Path(server.settings.data_dir).parent / "out"
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
                written = (written_by / run_id / f"{field}.{context}").read_text()
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
