"""Schemathesis over the whole API: whatever the schema admits gets an answer, never a 5xx."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Server, make_settings, start_server, write_workflow
from tidegate.app import create_app
from tidegate.simulate import dockerhub_payload

# Schemathesis's own strategies use `random` in places; Hypothesis warns about that,
# and our warnings-are-errors setting must not turn their internals into our failures.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

# The schema comes from the app itself, so operations are known at collection time.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(make_settings(Path(tempfile.mkdtemp(prefix="tidegate-schema-")))).openapi()
)
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    handle = start_server(make_settings(tmp_path_factory.mktemp("api")))
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


def test_schema_lists_the_api() -> None:
    assert "GET /api/v1/runs" in OPERATIONS and "POST /hooks/{source}/{token}" in OPERATIONS


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_server_error(label: str, api_server: Server) -> None:
    operation = OPERATIONS[label]
    headers = {"Authorization": f"Bearer {api_server.admin_token}"}

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(), follow=st.just(False))
    def check(case: schemathesis.Case, follow: bool) -> None:
        if case.query and "follow" in case.query:
            case.query["follow"] = follow  # an endless SSE stream is not a test case
        response = case.call(base_url=api_server.url, headers=headers, timeout=30)
        assert response.status_code < 500, (label, response.status_code, response.text[:500])

    check()
