"""Digest pinning when a run starts: from the event, from a real registry, or not at all."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.parts import ImageBuilder, Registry, push
from tests.support import Server, write_workflow
from tidegate.events.sources.dockerhub import dockerhub_payload


def workflow(out: Path, policy: str | None = None) -> str:
    line = f"on_unresolved: {policy}\n" if policy else ""
    return (
        f"name: pin\n{line}on: {{image: {{repositories: ['**']}}}}\n"
        f"jobs: {{a: {{steps: [{{run: 'echo $TIDEGATE_DIGEST $TIDEGATE_IMAGE > {out}'}}]}}}}\n"
    )


def tag_only_envelope(host: str, repository: str, tag: str) -> bytes:
    """A Distribution notification that names a tag but no digest."""
    event = {
        "id": f"tag-only-{repository}-{tag}",
        "timestamp": "2026-11-28T01:00:00Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "repository": repository,
            "tag": tag,
        },
        "request": {"host": host, "method": "PUT"},
    }
    return json.dumps({"events": [event]}).encode()


def test_unreachable_registry_fails_by_default(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_workflow(server.settings, "pin", workflow(out))
    (run_id,) = server.post_hook("dockerhub", dockerhub_payload("acme/web:v1")).json()["runs"]
    run = server.wait_run(run_id)
    assert run["status"] == "failed"
    assert run["digest"] == ""
    assert "cannot resolve docker.io/acme/web:v1" in run["digest_error"]
    assert "allow-list" in run["digest_error"]  # tests never reach out to Docker Hub
    assert run["error"] == run["digest_error"]
    assert {j["status"] for j in run["jobs"]} == {"skipped"}
    assert not out.exists()


def test_on_unresolved_tag_runs_on_the_tag(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_workflow(server.settings, "pin", workflow(out, "tag"))
    (run_id,) = server.post_hook("dockerhub", dockerhub_payload("acme/web:v1")).json()["runs"]
    run = server.wait_run(run_id)
    assert run["status"] == "succeeded"
    assert run["digest_error"]
    assert out.read_text().split() == ["docker.io/acme/web:v1"]


def test_tag_is_resolved_against_the_registry(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server = server_factory()
    out = tmp_path / "out"
    write_workflow(server.settings, "pin", workflow(out))
    registry = Registry(tmp_path / "registry").start()
    try:
        image = ImageBuilder(tmp_path / "images").build("app")
        digest = push(image, f"{registry.host}/demo/app:v1")
        body = tag_only_envelope(registry.host, "demo/app", "v1")
        (run_id,) = server.post_hook("registry", body).json()["runs"]
        run = server.wait_run(run_id)
        assert run["status"] == "succeeded", run
        assert run["digest"] == digest and run["digest_error"] == ""
        assert out.read_text().split() == [digest, f"{registry.host}/demo/app@{digest}"]
        # The tag moves on; a re-run still tests what the first run tested.
        newer = push(
            ImageBuilder(tmp_path / "images").build("newer"), f"{registry.host}/demo/app:v1"
        )
        assert newer != digest
        with server.client() as c:
            (rerun_id,) = c.post(f"/api/v1/runs/{run_id}/rerun").json()["runs"]
        rerun = server.wait_run(rerun_id)
    finally:
        registry.stop()
    assert rerun["status"] == "succeeded" and rerun["digest"] == digest
    assert out.read_text().split()[0] == digest
