"""Any body, any content type, to either source: a 202 or a 4xx with a JSON error, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Server, make_settings, start_server

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


def mutated(source: str, data: st.DataObject) -> bytes:
    """A recorded payload with one key removed or one value replaced, somewhere inside."""
    bodies = [
        json.loads(p.read_text())
        for p in sorted((FIXTURES / source).glob("*.json"))
        if not p.name.endswith(".expected.json")
    ]

    def mutate(body: object, data: st.DataObject) -> bytes:
        def walk(node: object) -> object:
            if isinstance(node, dict) and node:
                key = data.draw(st.sampled_from(sorted(node)))
                action = data.draw(st.sampled_from(["drop", "replace", "descend"]))
                copy = dict(node)
                if action == "drop":
                    del copy[key]
                elif action == "replace":
                    copy[key] = data.draw(json_values)
                else:
                    copy[key] = walk(node[key])
                return copy
            if isinstance(node, list) and node:
                index = data.draw(st.integers(0, len(node) - 1))
                copy_list = list(node)
                copy_list[index] = walk(node[index])
                return copy_list
            return data.draw(json_values)

        return json.dumps(walk(body)).encode()

    return mutate(data.draw(st.sampled_from(bodies)), data)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    handle = start_server(make_settings(tmp_path_factory.mktemp("fuzz"), run_engine=False))
    try:
        yield handle
    finally:
        handle.stop()


CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "application/vnd.docker.distribution.events.v1+json",
        "text/plain",
        "",
    ]
)


@pytest.mark.parametrize("source", ["dockerhub", "registry"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.text(max_size=100).map(lambda t: ("payload=" + t).encode()),
    content_type=CONTENT_TYPES,
)
def test_no_body_gives_a_500(
    fuzz_server: Server, source: str, body: bytes, content_type: str
) -> None:
    check(fuzz_server, source, body, content_type)


@pytest.mark.parametrize("source", ["dockerhub", "registry"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_no_mutated_payload_gives_a_500(
    fuzz_server: Server, source: str, data: st.DataObject
) -> None:
    body = mutated(source, data)
    check(fuzz_server, source, body, "application/json")


def check(server: Server, source: str, body: bytes, content_type: str) -> None:
    response = httpx2.post(
        server.hooks[source], content=body, headers={"Content-Type": content_type}, timeout=30
    )
    assert response.status_code in (202, 400, 413, 415), (response.status_code, response.text)
    answer = response.json()
    if response.status_code != 202:
        assert answer["error"] and answer["detail"]
