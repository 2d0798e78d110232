"""`on.image.poll` in workflow files: validated where it stands, and what it polls."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidegate.image_event import ImageEvent
from tidegate.poll.poller import backoff, wanted_targets
from tidegate.registry import RegistryUnreachable
from tidegate.store.poll_state import Target, Wanted
from tidegate.workflows import LoadedWorkflow, WorkflowInvalid, load_workflow, matches

HEAD = """\
name: watch
on:
  image:
"""
TAIL = """\
jobs:
  a:
    steps:
      - run: "true"
"""


def problems(tmp_path: Path, image: str) -> list[str]:
    path = tmp_path / "watch.yaml"
    path.write_text(HEAD + image + TAIL)
    with pytest.raises(WorkflowInvalid) as info:
        load_workflow(path)
    return [f"{p.line}:{p.column}: {p.message}" for p in info.value.problems]


def loaded(tmp_path: Path, image: str) -> LoadedWorkflow:
    path = tmp_path / "watch.yaml"
    path.write_text(HEAD + image + TAIL)
    return LoadedWorkflow(load_workflow(path), path, "", "")


def test_a_pattern_cannot_be_polled(tmp_path: Path) -> None:
    image = """\
    repositories: [acme/web, "acme/*"]
    registries: ["ghcr.io", "*.example.com"]
    poll: 5m
"""
    assert problems(tmp_path, image) == [
        "4:30: on.image.repositories[1]: poll needs exact repository names: 'acme/*' is a "
        "pattern, and a registry cannot list the repositories it matches; name each one",
        "5:29: on.image.registries[1]: poll needs exact registry hosts: '*.example.com' is a "
        "pattern; name each host (host or host:port)",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.5", "poll must be at least 1s, got 0.5s"),
        (
            "soon",
            "invalid duration 'soon': use e.g. 30s, 5m, 1h30m, 72h, 2d or a number of seconds",
        ),
        ("0s", "a duration must be positive, got '0s'"),
    ],
)
def test_the_interval_is_a_duration_from_one_second(
    tmp_path: Path, value: str, message: str
) -> None:
    image = f"    repositories: [acme/web]\n    poll: {value}\n"
    assert problems(tmp_path, image) == [f"5:11: on.image.poll: {message}"]


def test_poll_existing_needs_poll(tmp_path: Path) -> None:
    image = "    repositories: [acme/web]\n    poll_existing: true\n"
    assert problems(tmp_path, image) == [
        "5:20: on.image.poll_existing: poll_existing needs poll: (e.g. poll: 5m)"
    ]


def test_each_repository_on_each_registry_docker_hub_when_none(tmp_path: Path) -> None:
    hub = loaded(tmp_path, "    repositories: [acme/web, library/nginx]\n    poll: 5m\n")
    assert wanted_targets({"watch": hub}) == [
        Wanted("watch", "docker.io", "acme/web", 300.0),
        Wanted("watch", "docker.io", "library/nginx", 300.0),
    ]
    two = loaded(
        tmp_path,
        "    repositories: [acme/web]\n    registries: [GHCR.io, q.example:5000]\n    poll: 90s\n",
    )
    assert [(w.registry, w.interval) for w in wanted_targets({"watch": two})] == [
        ("ghcr.io", 90.0),
        ("q.example:5000", 90.0),
    ]
    webhooks_only = loaded(tmp_path, "    repositories: [acme/web]\n")
    assert wanted_targets({"watch": webhooks_only}) == []


def test_a_polling_workflow_takes_its_polls_events_whatever_sources_says(
    tmp_path: Path,
) -> None:
    image = "    repositories: [acme/web]\n    sources: [registry]\n"
    event = ImageEvent(
        source="poll", delivery_id="d", registry="docker.io", repository="acme/web", tag="v1"
    )
    assert matches(loaded(tmp_path, image + "    poll: 5m\n").workflow.on.image, event)
    assert not matches(loaded(tmp_path, image).workflow.on.image, event)


def target(interval: float, failures: int) -> Target:
    return Target("t", "watch", "r", "acme/web", interval, "", {}, None, failures, "")


def test_backoff_doubles_is_capped_and_honours_retry_after() -> None:
    down = RegistryUnreachable("down")
    assert [backoff(target(1, n), down) for n in range(4)] == [2, 4, 8, 16]
    assert backoff(target(300, 5), down) == 600  # ten minutes at most
    assert backoff(target(3600, 5), down) == 3600  # or the interval, when longer
    busy = RegistryUnreachable("busy", status=429, retry_after=120)
    assert backoff(target(1, 0), busy) == 120
