"""Schemathesis over the whole API: whatever a caller sends, with any role or none, on
either database, gets an answer below 500, and every error is our JSON shape."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from tests.support import Server, eventually, make_settings, start_server, write_workflow
from tidegate.app import create_app
from tidegate.events.sources.dockerhub import dockerhub_payload

# Schemathesis's own strategies use `random` in places; Hypothesis warns about that,
# and our warnings-are-errors setting must not turn their internals into our failures.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

# The schema comes from the app itself, so operations are known at collection time.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(make_settings(Path(tempfile.mkdtemp(prefix="tidegate-schema-")))).openapi()
)
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}
# Examples per operation and caller: strangers stop at the gate, so fewer do.
CALLERS = {"admin": 25, "approver": 10, "viewer": 10, "none": 5}
# Outside /api/ no token counts: the admin's run covers those operations.
RUNS = [
    (label, caller)
    for label in sorted(OPERATIONS)
    for caller in CALLERS
    if caller == "admin" or label.split(" ", 1)[1].startswith("/api/")
]
# What Hypothesis seldom writes, and where PostgreSQL and SQLite part: strings longer
# than their column (200 characters at most) and strings with NUL.
VARIANTS = ("as generated", "long", "with NUL")


@pytest.fixture(scope="module")
def api_server(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    handle = start_server(make_settings(tmp_path_factory.mktemp("api"), module_database_url))
    write_workflow(
        handle.settings,
        "w",
        "name: w\non_unresolved: tag\non: {image: {repositories: ['**']}}\n"
        "jobs: {a: {steps: [{run: 'true'}]}, b: {needs: [a], approval: {approvers: [admin]}}}\n",
    )
    handle.post_hook("dockerhub", dockerhub_payload("acme/web:v1"))  # something to read
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def known(api_server: Server) -> dict[str, str]:
    """Values that exist on the server, by parameter name: cases that use them get past
    the 404s to the code that stores what they send."""
    with api_server.client() as c:
        approval = eventually(lambda: c.get("/api/v1/approvals").json())[0]
        run = c.get(f"/api/v1/runs/{approval['run_id']}").json()
        hook = c.post("/api/v1/hooks", json={"source": "registry", "name": "fuzz"}).json()
    return {
        "source": "registry",
        "token": hook["token"],
        "hook_id": hook["id"],
        "approval_id": approval["id"],
        "run_id": run["id"],
        "event_id": run["event"]["id"],
    }


def varied(value: Any, variant: str, known: dict[str, str], key: object = None) -> Any:
    """`value` with each string known by its key replaced, every other one varied."""
    if isinstance(value, str):
        if key in known:
            return known[key]
        if variant == "long":
            return ((value or "x") * 300)[:300]
        return value + "\x00" if variant == "with NUL" else value
    if isinstance(value, dict):
        return {k: varied(v, variant, known, k) for k, v in value.items()}
    if isinstance(value, list):
        return [varied(v, variant, known, key) for v in value]
    return value


def cases(label: str) -> st.SearchStrategy[schemathesis.Case]:
    """Cases that fit the schema, and where a body or a query has rules, ones that break them."""
    operation = OPERATIONS[label]
    fitting = operation.as_strategy()
    if not (len(operation.body) or len(operation.query)):
        return fitting
    return st.one_of(fitting, operation.as_strategy(GenerationMode.NEGATIVE))


def test_schema_lists_the_api() -> None:
    assert "GET /api/v1/runs" in OPERATIONS and "POST /hooks/{source}/{token}" in OPERATIONS


@pytest.mark.parametrize(("label", "caller"), RUNS)
def test_no_server_error(
    label: str, caller: str, api_server: Server, known: dict[str, str]
) -> None:
    headers = {}
    if caller != "none":
        token = api_server.admin_token if caller == "admin" else api_server.token(caller, caller)
        headers["Authorization"] = f"Bearer {token}"

    @settings(max_examples=CALLERS[caller], deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=cases(label), variant=st.sampled_from(VARIANTS), use_known=st.booleans())
    def check(case: schemathesis.Case, variant: str, use_known: bool) -> None:
        values = known if use_known else {}
        case.body = varied(case.body, variant, values)
        case.query = varied(case.query, variant, values)
        case.path_parameters = varied(case.path_parameters, variant, values)
        if case.query and "follow" in case.query:
            case.query["follow"] = False  # an endless SSE stream is not a test case
        response = case.call(base_url=api_server.url, headers=headers, timeout=30)
        assert response.status_code < 500, (label, response.status_code, response.text[:500])
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "detail", "field"}, response.text[:500]

    check()
