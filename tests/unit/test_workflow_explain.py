"""Why a workflow's `on.image` refused an event: the criterion, its patterns, the value."""

from __future__ import annotations

from tidegate.image_event import ImageEvent
from tidegate.workflows import ImageFilter, matches
from tidegate.workflows.match import Rejection, explain


def _event(**fields: str) -> ImageEvent:
    base = {
        "source": "dockerhub",
        "delivery_id": "d1",
        "registry": "docker.io",
        "repository": "acme/web",
        "tag": "latest",
    }
    return ImageEvent.model_validate({**base, **fields})


def _filter(**fields: object) -> ImageFilter:
    return ImageFilter.model_validate({"repositories": ["acme/*"], **fields})


def test_a_match_has_no_reasons() -> None:
    f = _filter(tags=["latest"], sources=["dockerhub"], registries=["docker.io"])
    assert explain(f, _event()) == []
    assert matches(f, _event())


def test_a_tag_pattern_that_refuses_names_pattern_and_tag() -> None:
    (reason,) = explain(_filter(tags=["v*"]), _event())
    assert reason == Rejection("tags", ("v*",), "latest")
    assert str(reason) == "tags: `v*` does not match `latest`"


def test_every_refusing_criterion_is_named_in_order() -> None:
    f = _filter(tags=["v*", r"/^rc-\d+$/"], sources=["registry"], registries=["*.example.com"])
    reasons = explain(f, _event(repository="other/web", source="dockerhub"))
    assert [str(r) for r in reasons] == [
        "repositories: `acme/*` does not match `other/web`",
        r"tags: none of `v*`, `/^rc-\d+$/` match `latest`",
        "sources: `registry` does not match `dockerhub`",
        "registries: `*.example.com` does not match `docker.io`",
    ]
    assert not matches(f, _event(repository="other/web"))


def test_unset_sources_and_registries_accept_anything() -> None:
    assert explain(_filter(), _event(source="quay", registry="quay.io")) == []


def test_a_digest_only_push_is_explained_as_such() -> None:
    event = _event(tag="", digest="sha256:" + "a" * 64)
    (reason,) = explain(_filter(), event)
    assert str(reason) == "tags: `*` does not match the empty tag (a push by digest only)"
    assert explain(_filter(tags=["*", ""]), event) == []


def test_explain_and_matches_agree() -> None:
    filters = [
        _filter(),
        _filter(tags=["v*"]),
        _filter(sources=["registry"]),
        _filter(tags=[">=1"]),
    ]
    events = [_event(), _event(tag="v2"), _event(tag="1.5"), _event(source="registry")]
    for f in filters:
        for event in events:
            assert matches(f, event) is (not explain(f, event))
