"""Builds the StepContext a step kind runs with."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from tidegate.engine.context import expression_context, host_environment, step_variables
from tidegate.engine.loaded import LoadedRun, run_url
from tidegate.engine.runtime import Runtime
from tidegate.engine.steps.base import Log, StepContext
from tidegate.workflows import compile_template

S = TypeVar("S")
C = TypeVar("C")


def secrets_of(runtime: Runtime) -> dict[str, str]:
    return runtime.secret_map


def expr_context(
    runtime: Runtime, loaded: LoadedRun, jobs: dict[str, str], status: str
) -> dict[str, Any]:
    return expression_context(
        event=loaded.event,
        run=loaded.run_context(runtime, status),
        jobs=jobs,
        env=dict(loaded.workflow.env),
        secrets=secrets_of(runtime),
        event_ctx=loaded.event_context or None,
    )


def make_step_context(
    runtime: Runtime,
    loaded: LoadedRun,
    *,
    caps: C,
    job_id: str,
    index: int,
    spec: S,
    job_env: dict[str, str],
    step_env: dict[str, str],
    run_status: str,
    engine_error: bool,
    timeout: float | None,
    log: Log,
    cancel: asyncio.Event | None = None,
) -> StepContext[S, C]:
    """The context of one step attempt; `caps` is what its kind's `grant` took."""
    ctx = expr_context(runtime, loaded, loaded.job_statuses, run_status)

    def render(text: str) -> str:
        return compile_template(text).render(ctx)

    workspace = (runtime.workspaces / loaded.run.id).resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    # Only PATH, HOME and the like: the server's own settings and secrets stay out.
    env = host_environment(runtime.host_env)
    for layer in (loaded.workflow.env, job_env, step_env):
        env.update({key: render(str(value)) for key, value in layer.items()})
    env.update(step_variables(loaded.event, loaded.run.id, run_url(runtime, loaded.run.id)))
    env["TIDEGATE_WORKSPACE"] = str(workspace)
    return StepContext(
        caps=caps,
        run_id=loaded.run.id,
        run_url=run_url(runtime, loaded.run.id),
        run_status=run_status,
        engine_error=engine_error,
        job_id=job_id,
        index=index,
        event=loaded.event,
        spec=spec,
        env=env,
        render=render,
        timeout=timeout or runtime.settings.step_timeout,
        cwd=runtime.step_cwd,
        workspace=workspace,
        cancel=cancel or asyncio.Event(),
        log=log,
    )
