"""What a step sees: the expression contexts and the environment variables of DESIGN.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidegate.image_event import ImageEvent
from tidegate.workflows import event_context


def expression_context(
    *,
    event: ImageEvent,
    run: Mapping[str, Any],
    jobs: Mapping[str, str],
    env: Mapping[str, str],
    secrets: Mapping[str, str],
    job_status: str = "running",
    event_ctx: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`event_ctx`: `event_context(event)` when the caller has it already (a run's
    steps share one: `loaded.Snapshot`)."""
    return {
        "event": dict(event_ctx) if event_ctx is not None else event_context(event),
        "job": {"status": job_status},
        "run": dict(run),
        "jobs": {job_id: {"status": status} for job_id, status in jobs.items()},
        "env": dict(env),
        "secrets": dict(secrets),
    }


def step_variables(event: ImageEvent, run_id: str, run_url: str) -> dict[str, str]:
    """TIDEGATE_* for every step, and the Jenkins plugin's DOCKER_TRIGGER_* for old scripts."""
    repo_name = event.repository
    if event.source == "dockerhub" and repo_name.startswith("library/"):
        # The Jenkins plugin saw official images without the library/ prefix.
        repo_name = repo_name.removeprefix("library/")
    return {
        "TIDEGATE_IMAGE": event.image,
        "TIDEGATE_REGISTRY": event.registry,
        "TIDEGATE_REPOSITORY": event.repository,
        "TIDEGATE_TAG": event.tag,
        "TIDEGATE_DIGEST": event.digest,
        "TIDEGATE_PUSHER": event.pusher,
        "TIDEGATE_SOURCE": event.source,
        "TIDEGATE_RUN_ID": run_id,
        "TIDEGATE_RUN_URL": run_url,
        "DOCKER_TRIGGER_REPO_NAME": repo_name,
        "DOCKER_TRIGGER_TAG": event.tag,
        "DOCKER_TRIGGER_PUSHER": event.pusher,
        "DOCKER_TRIGGER_DOCKER_HUB_HOST": event.registry,
    }


# Host variables a shell step inherits; the rest of the server's environment (database
# URLs, tokens, TIDEGATE_SECRET_*) stays out of reach of user scripts.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL")


def host_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {key: environ[key] for key in INHERITED if key in environ}
