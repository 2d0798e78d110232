"""Attacks on the webhook intake, replayed against a real server on SQLite and PostgreSQL.

Each test here failed before the intake held every field to its grammar: a lone
surrogate answered 500 (and, in an envelope, left the events before it stored); fixed
width columns answered 500 on PostgreSQL only; a body nested 300 levels deep was stored
and then could not be served; a backtracking tag regex held the intake for seconds.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support import Server, make_settings, start_server, write_workflow

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"
DOCKERHUB = json.loads((FIXTURES / "dockerhub" / "docs_example.json").read_text())
ENVELOPE = json.loads((FIXTURES / "registry" / "oci_index_v2.json").read_text())
PUSH_EVENT = ENVELOPE["events"][0]
SHA512 = "sha512:" + "ab" * 64


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Server]:
    """No engine: runs are planned at intake (matching included) but not started."""
    handle = start_server(
        make_settings(tmp_path_factory.mktemp("hostile"), module_database_url, run_engine=False)
    )
    try:
        yield handle
    finally:
        handle.stop()


def post(server: Server, source: str, doc: Any) -> httpx2.Response:
    # ensure_ascii: a lone surrogate travels as the escape `\ud800`, as an attacker sends it.
    body = json.dumps(doc, ensure_ascii=True).encode()
    response = server.post_hook(source, body)
    assert response.status_code < 500, response.text
    return response


def event_ids(server: Server) -> set[str]:
    with server.client() as c:
        return {e["id"] for e in c.get("/api/v1/events", params={"limit": 500}).json()}


def stored(server: Server, event_id: str) -> dict[str, Any]:
    with server.client() as c:
        response = c.get(f"/api/v1/events/{event_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())


def dockerhub(**changes: Any) -> dict[str, Any]:
    """The documented Docker Hub body with `path.to.key=value` changes; unique per call."""
    doc = copy.deepcopy(DOCKERHUB)
    doc["push_data"]["pushed_at"] = next(_stamps)
    for path, value in changes.items():
        *parents, key = path.split("__")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[key] = value
    return doc


def registry_event(event_id: str, **target: Any) -> dict[str, Any]:
    event = copy.deepcopy(PUSH_EVENT)
    event["id"] = event_id
    event["target"].update(target)
    return event


_stamps = iter(range(1_600_000_000, 1_700_000_000))
SURROGATE = "x\ud800y"


@pytest.mark.parametrize(
    "path",
    [
        "push_data__tag",
        "push_data__pusher",
        "push_data__media_type",
        "repository__repo_name",
        "repository__description",  # not a field we read: it is stored in `raw`
        "callback_url",
    ],
)
def test_a_lone_surrogate_anywhere_in_a_docker_hub_body_is_a_400(server: Server, path: str) -> None:
    before = event_ids(server)
    response = post(server, "dockerhub", dockerhub(**{path: SURROGATE}))
    assert response.status_code == 400, response.text
    assert response.json()["field"]
    assert event_ids(server) == before


def test_an_envelope_keeps_its_good_events_and_names_the_bad_one(server: Server) -> None:
    bad = registry_event("evt-bad-surrogate")
    bad["actor"] = {"name": SURROGATE}
    envelope = {
        "events": [registry_event("evt-good-1"), bad, registry_event("evt-good-2", tag="v2")]
    }
    first = post(server, "registry", envelope)
    assert first.status_code == 202, first.text
    answer = first.json()
    assert len(answer["events"]) == 2
    assert any("evt-bad-surrogate" in r and "actor.name" in r for r in answer["ignored"])
    # The sender's retry is answered the same way, and stores nothing more.
    again = post(server, "registry", envelope)
    assert again.status_code == 202
    assert sorted(again.json()["duplicates"]) == sorted(answer["events"])
    assert again.json()["events"] == []


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"push_data__pusher": "p" * 201}, "pusher", "p" * 201),
        ({"push_data__pusher": "p" * 255}, "pusher", "p" * 255),
        ({"push_data__pusher": 'O\'Brien "$(id)" `id`; rm -rf / && |'}, "pusher", None),
        ({"push_data__media_type": "application/vnd.oci.image.index.v1+json"}, "media_type", None),
    ],
    ids=["pusher-201", "pusher-255", "pusher-shell", "media-type"],
)
def test_values_within_the_limits_are_stored_intact(
    server: Server, changes: dict[str, Any], field: str, value: str | None
) -> None:
    response = post(server, "dockerhub", dockerhub(**changes))
    assert response.status_code == 202, response.text
    (event_id,) = response.json()["events"]
    expected = value if value is not None else next(iter(changes.values()))
    assert stored(server, event_id)[field] == expected


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"push_data__pusher": "p" * 256}, "push_data.pusher"),
        ({"push_data__pusher": "nul\x00byte"}, "push_data.pusher"),
        ({"push_data__pusher": "two\nlines"}, "push_data.pusher"),
        ({"push_data__pusher": "line\u2028separator"}, "push_data.pusher"),
        ({"push_data__media_type": "application/" + "x" * 300}, "push_data.media_type"),
        ({"push_data__media_type": "not a media type"}, "push_data.media_type"),
        ({"callback_url": "https://registry.hub.docker.com/" + "u" * 3000}, "callback_url"),
        ({"callback_url": "javascript:alert(1)"}, "callback_url"),
        ({"push_data__tag": "../../etc"}, "push_data.tag"),
    ],
    ids=[
        "pusher-256",
        "nul",
        "newline",
        "line-separator",
        "media-type-300",
        "media-type-grammar",
        "callback-3000",
        "callback-scheme",
        "tag-dotdot",
    ],
)
def test_values_past_their_grammar_are_a_400_naming_the_field(
    server: Server, changes: dict[str, Any], field: str
) -> None:
    before = event_ids(server)
    response = post(server, "dockerhub", dockerhub(**changes))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert event_ids(server) == before


def test_distribution_ids_and_digests_as_wide_as_the_grammar(server: Server) -> None:
    long_id = "i" * 250
    envelope = {
        "events": [
            registry_event(long_id),
            registry_event("evt-sha512", digest=SHA512),
            registry_event("i" * 256),
            registry_event("evt-bad-sha256", digest="sha256:" + "0" * 63),
        ]
    }
    response = post(server, "registry", envelope)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert len(answer["events"]) == 2
    assert len(answer["ignored"]) == 2
    kept = {stored(server, e)["delivery_id"]: stored(server, e) for e in answer["events"]}
    assert set(kept) == {long_id, "evt-sha512"}
    assert kept["evt-sha512"]["digest"] == SHA512
    assert kept["evt-sha512"]["image"].endswith("@" + SHA512)


def nested(depth: int) -> Any:
    doc: Any = "bottom"
    for _ in range(depth):
        doc = {"n": doc}
    return doc


def test_a_deeply_nested_body_is_refused_not_stored_unservable(server: Server) -> None:
    before = event_ids(server)
    response = post(server, "dockerhub", dockerhub(repository__extra=nested(300)))
    assert response.status_code == 400, response.text
    assert "nested" in response.json()["detail"]
    assert event_ids(server) == before
    # In an envelope, the deep event alone is left out.
    deep = registry_event("evt-deep")
    deep["request"]["extra"] = nested(300)
    response = post(server, "registry", {"events": [deep, registry_event("evt-shallow")]})
    assert response.status_code == 202, response.text
    (event_id,) = response.json()["events"]
    assert stored(server, event_id)["delivery_id"] == "evt-shallow"


@pytest.mark.timeout(60)
def test_a_backtracking_tag_regex_runs_in_linear_time(server: Server) -> None:
    """`/(a+)+$/` took 0.49 s at 24 characters and doubled with each more; here 120."""
    write_workflow(
        server.settings,
        "redos",
        """
name: redos
on:
  image:
    repositories: ["**"]
    tags: ["/(a+)+$/", "*a*a*a*a*a*a*a*a*a*a*b"]
jobs:
  one:
    steps:
      - run: "true"
""",
    )
    try:
        response = post(server, "dockerhub", dockerhub(push_data__tag="a" * 120 + "-"))
        assert response.status_code == 202, response.text
        assert response.json()["runs"] == []
        response = post(server, "dockerhub", dockerhub(push_data__tag="a" * 127))
        assert response.status_code == 202, response.text
        assert len(response.json()["runs"]) == 1
    finally:
        (Path(server.settings.workflows) / "redos.yaml").unlink()
