"""`container:` run a container — by default exactly the run's pinned image."""

from __future__ import annotations

from typing import Any

from tidegate.engine.capabilities import Capabilities, Containers
from tidegate.engine.context import INHERITED
from tidegate.engine.steps.base import StepContext, judge, to_log
from tidegate.errors import StepFailed
from tidegate.executors.container_spec import ContainerRun, ContainerSpecError
from tidegate.workflows import ContainerSpec
from tidegate.workflows.shell import UnsafeScript, render_command

WORKSPACE = "/workspace"
RESERVED = ("TIDEGATE_", "DOCKER_TRIGGER_")
NO_ENGINE = (
    "no container engine is configured: set TIDEGATE_DOCKER_HOST "
    "(a Docker socket, or Podman's `podman system service` socket)"
)


def step_labels(ctx: StepContext[Any, Any], kind: str) -> dict[str, str]:
    """Labels that tie a container to its run, for clean-up after a crash."""
    return {
        "tidegate.run": ctx.run_id,
        "tidegate.job": ctx.job_id,
        "tidegate.step": str(ctx.index),
        "tidegate.kind": kind,
    }


def container_env(ctx: StepContext[Any, Containers], own: dict[str, str]) -> dict[str, str]:
    """The step's variables for a container.

    The host's PATH-like values are left out (the image has its own) unless a workflow
    set them; the container's own `env` comes next; Tidegate's variables last, so no
    workflow can make a step lie about the image it runs.
    """
    host = ctx.caps.host_env
    env = {
        key: value
        for key, value in ctx.env.items()
        if not (key in INHERITED and host.get(key) == value)
    }
    env.update({key: ctx.render(str(value)) for key, value in own.items()})
    env.update({k: v for k, v in ctx.env.items() if k.startswith(RESERVED)})
    env["TIDEGATE_WORKSPACE"] = WORKSPACE
    return env


class ContainerStep:
    name = "container"

    def grant(self, caps: Capabilities) -> Containers:
        return caps.containers

    async def execute(self, ctx: StepContext[ContainerSpec, Containers]) -> None:
        executor = ctx.caps.executor
        if executor is None:
            raise StepFailed(NO_ENGINE)
        spec = ctx.spec
        # A shell-form script gets its `${{ }}` values as variables, set after all others.
        try:
            argv = render_command(spec.entrypoint, spec.command, ctx.render)
        except UnsafeScript as exc:  # validation refuses it first; never splice a value
            raise StepFailed(f"container: {exc.message}") from exc
        run = ContainerRun(
            image=ctx.render(spec.image) if spec.image else ctx.event.image,
            command=argv.command,
            entrypoint=argv.entrypoint,
            env={**container_env(ctx, dict(spec.env)), **argv.env},
            workdir=ctx.render(spec.workdir) if spec.workdir else None,
            user=spec.user,
            network=spec.network,
            memory=spec.memory or ctx.caps.memory,
            cpus=spec.cpus or ctx.caps.cpus,
            pids=spec.pids or ctx.caps.pids,
            pull=spec.pull,
            mounts={str(ctx.workspace): WORKSPACE},
            labels=step_labels(ctx, "step"),
            timeout=ctx.timeout,
        )
        await ctx.info(f"container {run.image}")
        try:
            outcome = await executor.run_container(
                run, to_log(ctx), ctx.cancel, auth=ctx.caps.pull_auth(run.image)
            )
        except ContainerSpecError as exc:
            raise StepFailed(f"container: {exc.message}") from exc
        judge(ctx, outcome, "container")
