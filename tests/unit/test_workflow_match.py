"""Matching events against `on.image`: repository globs, tag globs/regexes/ranges."""

from __future__ import annotations

import pytest

from tidegate.errors import WorkflowError
from tidegate.image_event import ImageEvent
from tidegate.workflows import ImageFilter, matches, parse_range, parse_version, tag_matches
from tidegate.workflows.patterns import registry_matches, repository_matches, tag_pattern_kind

TAG_CASES = {
    "v*": (["v1", "v1.2.3", "v", "vnext"], ["1.2.3", "latest", "V1", "av1"]),
    r"/^rc-\d+$/": (["rc-1", "rc-42"], ["rc-", "rc-1a", "xrc-1", "RC-1", "rc-1-hotfix"]),
    ">=1.2 <2": (
        ["1.2", "v1.2.3", "1.9.9", "1.2.0", "v1.10", "1.99.0+build.5"],
        ["1.1.9", "2.0.0", "2.0", "2", "latest", "1.3.0-rc.1", "1.2.3.4", "v1.2-alpine"],
    ),
    "*": (["latest", "v1", "a-b.c"], [""]),
    "": ([""], ["latest"]),
    "1.*": (["1.2", "1.x"], ["1", "11.2"]),
    "?.?": (["1.2"], ["1.22"]),
    "[0-9]*": (["1", "12-alpine"], ["v1"]),
    "^1.2": (["1.2.0", "1.9.0", "v1.2.7"], ["1.1.9", "2.0.0", "2.0.0-rc.1"]),
    "^0.2.3": (["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
    "^0.0.3": (["0.0.3"], ["0.0.4", "0.0.2"]),
    "~1.4": (["1.4.0", "1.4.9"], ["1.5.0", "1.3.9"]),
    "~1.4.2": (["1.4.2", "1.4.3"], ["1.4.1", "1.5.0"]),
    ">1": (["2.0.0", "3"], ["1.9.9", "1"]),
    ">1.2.3": (["1.2.4"], ["1.2.3"]),
    "<2.0.0": (["1.9.9", "0.1"], ["2.0.0", "2.0.0-rc.1"]),
    "<=1.2": (["1.2.9", "1.0"], ["1.3.0"]),
    "=1.2.3": (["1.2.3", "v1.2.3"], ["1.2.4"]),
    "=1.2": (["1.2.0", "1.2.5"], ["1.3.0"]),
    "!=1.2.3": (["1.2.4", "1.2.2"], ["1.2.3", "latest"]),
    "^1 || ^3": (["1.5.0", "3.0.1"], ["2.0.0", "4.0.0"]),
    ">=1.3.0-rc.1 <1.4": (["1.3.0-rc.1", "1.3.0-rc.2", "1.3.0", "1.3.5"], ["1.3.1-rc.1"]),
    ">= 1.2 < 2": (["1.5"], ["2.1"]),
}


@pytest.mark.parametrize(
    ("pattern", "tag", "expected"),
    [
        (pattern, tag, expected)
        for pattern, (accepted, rejected) in TAG_CASES.items()
        for expected, tags in ((True, accepted), (False, rejected))
        for tag in tags
    ],
)
def test_tag_pattern(pattern: str, tag: str, expected: bool) -> None:
    assert tag_matches(pattern, tag) is expected


@pytest.mark.parametrize(
    ("pattern", "kind"),
    [("v*", "glob"), ("/x/", "regex"), ("/", "glob"), (">=1", "range"), ("~1", "range")],
)
def test_tag_pattern_kind(pattern: str, kind: str) -> None:
    assert tag_pattern_kind(pattern) == kind


@pytest.mark.parametrize("pattern", [r"/\d*/", ">=0", "v*", "^1", "*", "**"])
def test_empty_tag_matches_only_the_empty_pattern(pattern: str) -> None:
    # Multi-arch pushes send untagged per-platform manifests: "*" must not run for each.
    assert tag_matches(pattern, "") is False
    assert tag_matches("", "") is True


@pytest.mark.parametrize("source", [">=", ">=banana", "^1.2 ||", "<1.2.3.4", ">=1 ~"])
def test_bad_range(source: str) -> None:
    with pytest.raises(WorkflowError, match="invalid version range"):
        parse_range(source)


def test_version_ordering_follows_semver() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11"]
    ordered += ["1.0.0-rc.1", "1.0.0", "1.0.1", "1.1", "v2"]
    keys = []
    for text in ordered:
        version = parse_version(text)
        assert version is not None
        keys.append(version.key())
    assert keys == sorted(keys)
    assert parse_version("latest") is None
    assert parse_version("v1.2") == parse_version("1.2.0")


@pytest.mark.parametrize(
    ("pattern", "repository", "expected"),
    [
        ("acme/web", "acme/web", True),
        ("acme/web", "acme/Web", False),
        ("acme/*", "acme/web", True),
        ("acme/*", "acme/team/web", False),
        ("acme/**", "acme/team/web", True),
        ("**/web", "acme/team/web", True),
        ("**", "library/nginx", True),
        ("*", "library/nginx", False),
        ("acme/web-*", "acme/web-api", True),
        ("acme/web-*", "acme/web", False),
        ("acme/web-?", "acme/web-1", True),
        ("acme/[!x]*", "acme/web", True),
        ("acme/[!w]*", "acme/web", False),
    ],
)
def test_repository_glob(pattern: str, repository: str, expected: bool) -> None:
    assert repository_matches(pattern, repository) is expected


@pytest.mark.parametrize(
    ("pattern", "registry", "expected"),
    [
        ("docker.io", "docker.io", True),
        ("*.example.com", "mirror.example.com", True),
        ("*.example.com", "example.com", False),
        ("registry.local", "registry.local:5000", True),
        ("registry.local:5000", "registry.local:5001", False),
        ("registry.local:50*", "registry.local:5001", True),
        ("Docker.IO", "docker.io", True),
    ],
)
def test_registry_glob(pattern: str, registry: str, expected: bool) -> None:
    assert registry_matches(pattern, registry) is expected


def _event(**fields: str) -> ImageEvent:
    base = {
        "source": "dockerhub",
        "delivery_id": "d1",
        "registry": "docker.io",
        "repository": "acme/web",
        "tag": "v1.2.3",
    }
    return ImageEvent.model_validate({**base, **fields})


def _filter(**fields: object) -> ImageFilter:
    return ImageFilter.model_validate({"repositories": ["acme/*"], **fields})


def test_matches_all_criteria() -> None:
    f = _filter(tags=["v*"], sources=["dockerhub", "registry"], registries=["docker.io"])
    assert matches(f, _event())
    assert not matches(f, _event(repository="other/web"))
    assert not matches(f, _event(tag="latest"))
    assert not matches(f, _event(source="quay"))
    assert not matches(f, _event(registry="ghcr.io"))


def test_matches_defaults_accept_any_tag_source_registry_but_not_digest_only_pushes() -> None:
    f = _filter()
    assert f.tags == ["*"]
    assert matches(f, _event(source="ghcr", registry="ghcr.io", tag="anything"))
    assert not matches(f, _event(tag="", digest="sha256:" + "a" * 64))
    assert matches(_filter(tags=["*", ""]), _event(tag="", digest="sha256:" + "a" * 64))


def test_digest_only_push_needs_the_empty_pattern() -> None:
    event = _event(tag="", digest="sha256:" + "a" * 64)
    assert not matches(_filter(tags=["v*", ">=0"]), event)
    assert matches(_filter(tags=["v*", ""]), event)


def test_any_of_several_tag_patterns() -> None:
    f = _filter(tags=["latest", r"/^rc-\d+$/", ">=1.2 <2"])
    assert [matches(f, _event(tag=t)) for t in ["latest", "rc-3", "1.5", "2.0", "main"]] == [
        True,
        True,
        True,
        False,
        False,
    ]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("pattern", "tag"),
    [
        ("/(a+)+$/", "a" * 127 + "-"),  # 0.49 s at 24 characters on a backtracking engine
        ("/(a|aa)*c/", "a" * 128),
        ("*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 128),  # polynomial for a backtracking glob
    ],
)
def test_patterns_run_in_linear_time(pattern: str, tag: str) -> None:
    assert not tag_matches(pattern, tag)


@pytest.mark.timeout(30)
def test_repository_globs_run_in_linear_time() -> None:
    assert not repository_matches("**a**a**a**a**a**a**a**a**b", "a/" * 127 + "a")


@pytest.mark.parametrize("pattern", [r"/(a)\1/", "/(?=v)v1/", "/(?<!x)v/"])
def test_regexes_that_need_backtracking_are_refused_with_the_reason(pattern: str) -> None:
    with pytest.raises(WorkflowError, match="RE2 syntax.*no backreferences or lookarounds"):
        tag_matches(pattern, "v1")
