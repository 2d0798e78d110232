"""A job's `services:`: containers started before its first step, removed after its last.

Both ends are checkpointed steps. After a crash the services of runs still in flight
are kept (the launch reaps the rest), so a re-run step finds them where they were.
"""

from __future__ import annotations

from typing import Any

from tidegate.engine.loaded import load_run_async
from tidegate.engine.logsink import LogSink, event_secrets
from tidegate.engine.runtime import get_runtime
from tidegate.engine.stepctx import make_step_context
from tidegate.engine.steps.container import container_env, step_labels
from tidegate.executors.container_spec import ContainerRun
from tidegate.executors.services import ServiceFailed, ServiceHandle
from tidegate.store import runs as store_runs
from tidegate.workflows.shell import render_command

SERVICES_INDEX = -1  # the services' record and log lines sit before the job's steps


async def start_services(run_id: str, job_id: str) -> dict[str, Any]:
    """Start every service and wait until each is ready; {"error": …} when one is not."""
    runtime = get_runtime()
    loaded = await load_run_async(runtime, run_id)
    job = loaded.workflow.jobs[job_id]
    sink = LogSink(
        runtime.db,
        run_id,
        job_id,
        SERVICES_INDEX,
        [*runtime.secret_values(), *event_secrets(loaded.event)],
    )
    ctx = make_step_context(
        runtime,
        loaded,
        job_id=job_id,
        index=SERVICES_INDEX,
        spec=None,
        job_env=dict(job.env),
        step_env={},
        run_status="running",
        engine_error=False,
        timeout=None,
        log=sink.write,
    )

    def record(status: str, error: str = "") -> None:
        with runtime.db.session() as session:
            store_runs.upsert_step(
                session,
                run_id,
                job_id,
                SERVICES_INDEX,
                name="services: " + ", ".join(job.services),
                kind="services",
                status=status,
                error=error,
            )

    docker = runtime.docker
    if docker is None:
        error = "services need a container engine: set TIDEGATE_DOCKER_HOST"
        await ctx.info(error)
        await sink.flush()
        record("failed", error)
        return {"containers": [], "error": error}
    started: list[ServiceHandle] = []
    try:
        for name, service in job.services.items():
            argv = render_command(service.entrypoint, service.command, ctx.render)
            run = ContainerRun(
                image=ctx.render(service.image),
                command=argv.command,
                entrypoint=argv.entrypoint,
                env={**container_env(ctx, dict(service.env)), **argv.env},
                network=service.network,
                labels=step_labels(ctx, "service"),
            )
            handle = await docker.start_service(name, run, auth=runtime.pull_auth(run.image))
            started.append(handle)
            ready = service.ready
            await docker.wait_ready(
                handle,
                tcp_port=ready.port if ready else None,
                command=[ctx.render(a) for a in ready.command] if ready and ready.command else None,
                timeout=ready.timeout if ready else 60.0,
            )
            await ctx.info(f"service {name} ready ({run.image})")
    except ServiceFailed as exc:
        for handle in started:
            await docker.stop_service(handle)
        await ctx.info(exc.message)
        await sink.flush()
        record("failed", exc.message)
        return {"containers": [], "error": exc.message}
    await sink.flush()
    record("succeeded")
    return {"containers": [[h.name, h.container_id, h.image, h.network] for h in started]}


async def stop_services(run_id: str, job_id: str, containers: list[list[str]]) -> None:
    runtime = get_runtime()
    if runtime.docker is None:
        return
    for name, container_id, image, network in containers:
        await runtime.docker.stop_service(ServiceHandle(name, container_id, image, network))
