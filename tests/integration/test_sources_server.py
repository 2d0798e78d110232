"""Every source's recorded deliveries, valid and tampered, through a real server, on
SQLite and PostgreSQL: the right events for the valid ones; 401 or 400 with a JSON error,
nothing stored and `/metrics` counting the 401s, for the refused ones."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Server, make_settings, start_server
from tidegate.events.sources import SOURCES
from tidegate.events.sources.auth import HookAuth

WEBHOOKS = Path(__file__).parent.parent / "fixtures" / "webhooks"
SECRET = "tidegate-fixture-secret-0001"  # the recorded headers were signed with it
AUTH = HookAuth(SECRET)
SIGNED = sorted(name for name, source in SOURCES.items() if source.takes_secret)
RECORDED = sorted(p for p in WEBHOOKS.glob("*/*.json") if not p.name.endswith(".expected.json"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Server]:
    """No engine: runs would be planned at intake but not started."""
    handle = start_server(
        make_settings(tmp_path_factory.mktemp("sources"), module_database_url, run_engine=False)
    )
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def hooks(server: Server) -> dict[str, str]:
    """A hook per source, made as an admin would, with the fixture secret where it signs."""
    urls = {}
    with server.client() as c:
        for name, source in SOURCES.items():
            body: dict[str, Any] = {"source": name, "name": f"{name} (test)"}
            if source.takes_secret:
                body["secret"] = SECRET
            response = c.post("/api/v1/hooks", json=body)
            assert response.status_code == 201, response.text
            made = response.json()
            assert made["has_secret"] is source.takes_secret
            assert made["secret"] == ""  # given, so not echoed
            assert SECRET not in response.text
            urls[name] = made["url"]
    return urls


def load(path: Path) -> tuple[bytes, dict[str, str], dict[str, Any]]:
    expected = json.loads(path.with_suffix(".expected.json").read_text())
    return path.read_bytes(), dict(expected["headers"]), expected


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx2.Response:
    response = httpx2.post(url, content=body, headers=headers, timeout=30)
    assert response.status_code < 500, response.text
    return response


def event_ids(server: Server) -> set[str]:
    with server.client() as c:
        return {e["id"] for e in c.get("/api/v1/events", params={"limit": 500}).json()}


def refusals(server: Server, source: str, reason: str) -> float:
    text = httpx2.get(f"{server.url}/metrics", timeout=30).text
    pattern = (
        rf'^tidegate_webhooks_unverified_total\{{(?=[^}}]*reason="{reason}")'
        rf'(?=[^}}]*source="{source}")[^}}]*\}} (\S+)$'
    )
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_recorded_delivery_is_stored_as_its_events(
    server: Server, hooks: dict[str, str], path: Path
) -> None:
    body, headers, expected = load(path)
    response = post(hooks[path.parent.name], body, headers)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert len(answer["ignored"]) == expected["ignored"]
    assert len(answer["events"]) == len(expected["events"])
    with server.client() as c:
        for event_id, want in zip(answer["events"], expected["events"], strict=True):
            stored = c.get(f"/api/v1/events/{event_id}").json()
            for key in ("source", "registry", "repository", "tag", "digest", "pusher"):
                if key in want:
                    assert stored[key] == want[key], key
    # The sender's retry stores nothing more.
    again = post(hooks[path.parent.name], body, headers).json()
    assert again["events"] == [] and sorted(again["duplicates"]) == sorted(answer["events"])


def _tampered(name: str, body: bytes, headers: dict[str, str]) -> dict[str, dict[str, str]]:
    """The recorded headers, with the secret's part missing, or made with another secret."""
    source = SOURCES[name]
    mine = set(source.sign(body, AUTH))
    missing = {k: v for k, v in headers.items() if k not in mine}
    other = headers | source.sign(body, HookAuth("not-the-hook-secret-0123456789"))
    return {"missing": missing, "mismatch": other}


@pytest.mark.parametrize("name", SIGNED)
def test_a_delivery_without_its_secret_is_a_401_that_stores_nothing(
    server: Server, hooks: dict[str, str], name: str
) -> None:
    body, headers, _ = load(WEBHOOKS / name / "push.json")
    before = event_ids(server)
    for reason, sent in _tampered(name, body, headers).items():
        counted = refusals(server, name, reason)
        response = post(hooks[name], body, sent)
        assert response.status_code == 401, (reason, response.text)
        answer = response.json()
        assert answer["error"] == "unverified" and answer["detail"]
        assert SECRET not in response.text
        assert refusals(server, name, reason) == counted + 1
    assert event_ids(server) == before


@pytest.mark.parametrize("name", ["ghcr", "artifactory"])
def test_a_body_changed_after_signing_is_a_401(
    server: Server, hooks: dict[str, str], name: str
) -> None:
    body, headers, _ = load(WEBHOOKS / name / "push.json")
    before = event_ids(server)
    response = post(hooks[name], body.replace(b"v1.2.3", b"v6.6.6"), headers)
    assert response.status_code == 401, response.text
    assert event_ids(server) == before


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_truncated_json_signed_as_sent_is_a_400(
    server: Server, hooks: dict[str, str], name: str
) -> None:
    body, headers, _ = load(WEBHOOKS / name / "push.json")
    cut = body[: len(body) // 2]
    before = event_ids(server)
    response = post(hooks[name], cut, headers | SOURCES[name].sign(cut, AUTH))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_payload"
    assert event_ids(server) == before


def test_a_hook_made_without_a_secret_gets_one_shown_once(server: Server) -> None:
    with server.client() as c:
        made = c.post("/api/v1/hooks", json={"source": "ghcr"}).json()
        listed = c.get("/api/v1/hooks").json()
        refused = c.post("/api/v1/hooks", json={"source": "quay", "secret": SECRET})
    assert len(made["secret"]) >= 40
    row = next(h for h in listed if h["id"] == made["id"])
    assert row["has_secret"] is True and "secret" not in row
    assert refused.status_code == 422 and "signs nothing" in refused.text
    body, headers = SOURCES["ghcr"].sample("acme/web:v9", auth=HookAuth(made["secret"]))
    assert post(made["url"], body, headers).status_code == 202


# Anything, signed as the sender would: never a 5xx, nothing stored on a refusal -------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=15,
)


def _mutated(name: str, data: st.DataObject) -> bytes:
    doc = json.loads(
        data.draw(st.sampled_from(sorted((WEBHOOKS / name).glob("*[!d].json")))).read_text()
    )
    node = doc
    while isinstance(node, dict) and node:
        key = data.draw(st.sampled_from(sorted(node)))
        if not isinstance(node[key], dict) or data.draw(st.booleans()):
            if data.draw(st.booleans()):
                del node[key]
            else:
                node[key] = data.draw(json_values)
            break
        node = node[key]
    return json.dumps(doc).encode()


@pytest.mark.parametrize("name", sorted(set(SOURCES) - {"dockerhub", "registry"}))
@settings(
    database=None,
    deadline=None,
    max_examples=20,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_signed_garbage_is_never_a_5xx(
    server: Server, hooks: dict[str, str], name: str, data: st.DataObject
) -> None:
    body = data.draw(st.binary(max_size=200)) if data.draw(st.booleans()) else _mutated(name, data)
    _, headers, _ = load(WEBHOOKS / name / "push.json")
    headers = headers | SOURCES[name].sign(body, AUTH)
    before = event_ids(server)
    response = httpx2.post(hooks[name], content=body, headers=headers, timeout=30)
    assert response.status_code in (202, 400, 413, 415), response.text
    if response.status_code != 202:
        assert response.json()["detail"]
        assert event_ids(server) == before
