"""A pusher's text reaches a `run:` script as a variable, never as shell code."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.parts import ImageBuilder, Podman, Registry, push, scope_label
from tests.support import Server, write_workflow
from tidegate.events.sources.registry import registry_payload

# The reproduced Docker Hub bodies: each pusher broke out of its quotes when the value
# was spliced into the script as text.
PUSHERS = [
    'x"; touch MARKER; echo "',
    "x'; touch MARKER; echo '",
    "$(touch MARKER) `touch MARKER` ${HOME} * ; && | \\",
]

WORKFLOW = """
name: inject
on_unresolved: tag
on: {image: {repositories: ["acme/*"]}}
jobs:
  show:
    steps:
      - run: |
          cd "$TIDEGATE_WORKSPACE"
          printf '%s' ${{ event.pusher }} > bare
          printf '%s' "${{ event.pusher }}" > double
          printf '%s' '${{ event.pusher }}' > single
          cat <<EOF > heredoc
          ${{ event.pusher }}
          EOF
          echo "pusher=${{ event.pusher }}"
      - run: |
          set -x
          echo "token ${{ secrets.TOKEN }}"
"""


def dockerhub_body(pusher: str) -> bytes:
    body = {
        "push_data": {"pusher": pusher, "tag": "v1"},
        "repository": {"repo_name": "acme/web"},
        "callback_url": "",
    }
    return json.dumps(body).encode()


@pytest.fixture
def server(server_factory: Callable[..., Server]) -> Server:
    """A server that keeps a succeeded run's workspace: the tests read what steps wrote."""
    return server_factory(workspace_keep_succeeded_hours=1)


@pytest.mark.parametrize("pusher", PUSHERS)
def test_pusher_text_is_never_run_and_arrives_intact(server: Server, pusher: str) -> None:
    server.settings.secrets = {"TOKEN": SecretStr("hunter2-secret")}
    write_workflow(server.settings, "inject", WORKFLOW)
    response = server.post_hook("dockerhub", dockerhub_body(pusher))
    assert response.status_code == 202, response.text
    (run_id,) = response.json()["runs"]
    run = server.wait_run(run_id)
    logs = server.logs(run_id)
    assert run["status"] == "succeeded", logs

    root = Path(server.settings.data_dir).parent  # workflows, data, workspaces, step cwd
    assert not list(root.rglob("MARKER*"))
    workspace = Path(server.settings.data_dir) / "workspaces" / run_id
    for name in ("bare", "double", "single"):
        assert (workspace / name).read_text() == pusher, name
    assert (workspace / "heredoc").read_text() == pusher + "\n"
    printed = [line.split(": ", 1)[1] for line in logs.splitlines() if "pusher=" in line]
    assert printed == [f"pusher={pusher}"]

    # A secret that reaches a script as a variable is masked, even as xtrace echoes it.
    assert "token ***" in logs
    assert "hunter2" not in logs


# Both breakouts in one pusher, with what the test image has (sh builtins, no touch).
CONTAINER_PUSHER = "x\"; echo > /workspace/MARKER1; echo \"'; echo > /workspace/MARKER2; echo '"

CONTAINER_WORKFLOW = """
name: inject-container
on: {image: {repositories: ["demo/*"]}}
jobs:
  show:
    steps:
      - container:
          entrypoint: [/bin/sh, -ec]
          command:
            - |
              echo ${{ event.pusher }} > /workspace/bare
              echo "${{ event.pusher }}" > /workspace/double
              echo '${{ event.pusher }}' > /workspace/single
              echo "pusher=${{ event.pusher }}"
"""


def registry_body(host: str, digest: str, pusher: str) -> bytes:
    """A Distribution notification of `demo/app:v1` at `digest`, by `pusher`."""
    body = json.loads(registry_payload("demo/app:v1", registry=host, pusher=pusher))
    target = body["events"][0]["target"]
    target["digest"] = digest
    target["url"] = f"http://{host}/v2/demo/app/manifests/{digest}"
    return json.dumps(body).encode()


def test_container_shell_form_gets_the_pusher_as_a_variable(
    server_factory: Callable[..., Server], podman: Podman, tmp_path: Path
) -> None:
    server = server_factory(docker_host=podman.url, workspace_keep_succeeded_hours=1)
    registry = Registry(tmp_path / "registry").start()
    try:
        image = ImageBuilder(tmp_path / "images").build("app")
        digest = push(image, f"{registry.host}/demo/app:v1")
        write_workflow(server.settings, "inject-container", CONTAINER_WORKFLOW)
        response = server.post_hook(
            "registry",
            registry_body(registry.host, digest, CONTAINER_PUSHER),
            "application/vnd.docker.distribution.events.v2+json",
        )
        assert response.status_code == 202, response.text
        (run_id,) = response.json()["runs"]
        run = server.wait_run(run_id, timeout=120)
        logs = server.logs(run_id)
        assert run["status"] == "succeeded", logs
    finally:
        registry.stop()
        leftovers = podman.containers(scope_label(server.settings))
        subprocess.run(["podman", "rm", "-f", *leftovers], capture_output=True, check=False)
    workspace = Path(server.settings.data_dir) / "workspaces" / run_id
    assert not list(tmp_path.rglob("MARKER*"))
    for name in ("bare", "double", "single"):
        assert (workspace / name).read_text() == CONTAINER_PUSHER + "\n", name
    printed = [line.split(": ", 1)[1] for line in logs.splitlines() if "pusher=" in line]
    assert printed == [f"pusher={CONTAINER_PUSHER}"]


def test_an_event_value_cannot_move_a_step_out_of_its_directory(server: Server) -> None:
    write_workflow(
        server.settings,
        "cwd",
        """
name: cwd
on_unresolved: tag
on: {image: {repositories: ["acme/*"]}}
jobs:
  show:
    steps:
      - run: pwd
        working_directory: ${{ event.pusher }}
""",
    )
    response = server.post_hook("dockerhub", dockerhub_body("../../../.."))
    assert response.status_code == 202, response.text
    (run_id,) = response.json()["runs"]
    run = server.wait_run(run_id)
    assert run["status"] == "failed"
    assert "is outside" in server.logs(run_id) + json.dumps(run)
