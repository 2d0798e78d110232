"""Every source in the table keeps the plug-in contract (events/sources/base.py)."""

from __future__ import annotations

import pytest

from tidegate.errors import NotFound
from tidegate.events.grammar import event_problem
from tidegate.events.sources import ALIASES, SOURCES, known_source
from tidegate.events.sources.auth import HookAuth, Refused
from tidegate.events.sources.base import split_reference
from tidegate.web.api.hooks_intake import router

REFERENCES = ["acme/web:v1.2.3", "acme/web", "team/sub/api:2.0.0-rc.1"]
AUTH = HookAuth("contract-test-secret-0123456789")


@pytest.mark.parametrize("name", SOURCES)
def test_every_source_has_the_contract(name: str) -> None:
    source = SOURCES[name]
    assert source.name == name
    assert isinstance(source.bindable, bool)
    assert isinstance(source.takes_secret, bool)
    assert source.secret_header is None or source.takes_secret
    for method in ("verify", "parse", "sample", "sign"):
        assert callable(getattr(source, method, None)), f"{name} has no {method}"


@pytest.mark.parametrize("reference", REFERENCES)
@pytest.mark.parametrize("name", SOURCES)
def test_sample_round_trips_through_parse(name: str, reference: str) -> None:
    source = SOURCES[name]
    body, headers = source.sample(reference, auth=AUTH)
    assert headers == {k.lower(): v for k, v in headers.items()}, "header names lower-case"
    assert "content-type" in headers
    source.verify(headers, body, AUTH)  # a sample comes from the sender it claims

    parsed = source.parse(body, headers)

    assert parsed.ignored == []
    (event,) = parsed.events
    repository, tag = split_reference(reference)
    assert (event.source, event.repository, event.tag) == (name, repository, tag)
    assert event_problem(event) is None
    assert event.raw  # what was sent, kept


def test_dockerhub_sample_carries_a_callback_url() -> None:
    url = "https://registry.hub.docker.com/u/acme/web/hook/abc/"
    body, headers = SOURCES["dockerhub"].sample("acme/web:v1", callback_url=url)
    assert SOURCES["dockerhub"].parse(body, headers).events[0].callback_url == url


@pytest.mark.parametrize("name", SOURCES)
def test_a_signing_source_refuses_what_its_secret_did_not_make(name: str) -> None:
    source = SOURCES[name]
    body, headers = source.sample("acme/web:v1", auth=AUTH)
    signed = source.sign(body, AUTH)
    if not source.takes_secret:
        assert signed == {}
        return
    assert signed and set(signed) <= set(headers)
    unsigned = {k: v for k, v in headers.items() if k not in signed}
    with pytest.raises(Refused) as missing:
        source.verify(unsigned, body, AUTH)
    assert missing.value.reason == "missing"
    other = HookAuth("another-secret-0123456789abcdef")
    with pytest.raises(Refused) as wrong:
        source.verify(headers | source.sign(body, other), body, AUTH)
    assert wrong.value.reason == "mismatch"
    assert AUTH.secret not in wrong.value.message  # never the secret in what is logged
    with pytest.raises(Refused) as none:
        source.verify(headers, body, HookAuth())
    assert none.value.reason == "no_secret"


def test_known_source_names_the_table() -> None:
    assert known_source("registry") is SOURCES["registry"]
    known = "acr, artifactory, cloudevents, dockerhub, ecr, gar, ghcr, harbor, quay, registry"
    with pytest.raises(NotFound, match=rf"unknown source 'nexus'; known: {known}"):
        known_source("nexus")


def test_jenkins_paths_come_from_the_aliases() -> None:
    paths = {getattr(route, "path", "") for route in router.routes}
    assert "/hooks/{source}/{token}" in paths
    for alias in ALIASES:
        assert f"/{alias}/{{token}}/notify" in paths
