"""A job's `services:`: containers started before its first step, removed after its last.

Both ends are checkpointed steps (`start_services`, `stop_services`: DBOS matches them
by these names). After a crash the services of runs still in flight are kept (the
launch reaps the rest), so a re-run step finds them where they were.
"""

from __future__ import annotations

import asyncio

from tidegate.engine.capabilities import Containers, capabilities
from tidegate.engine.checkpoints import Checkpoint, StartedServices
from tidegate.engine.loaded import load_run_async
from tidegate.engine.logsink import LogSink, event_secrets
from tidegate.engine.runtime import Runtime, get_runtime
from tidegate.engine.stepctx import make_step_context
from tidegate.engine.steps.base import StepContext
from tidegate.engine.steps.container import container_env, step_labels
from tidegate.executors.base import ServiceFailed, ServiceHandle
from tidegate.executors.container_spec import ContainerRun
from tidegate.status import Status
from tidegate.store import runs as store_runs
from tidegate.workflows import Job
from tidegate.workflows.shell import render_command

SERVICES_INDEX = -1  # the services' record and log lines sit before the job's steps
NO_ENGINE = "services need a container engine: set TIDEGATE_DOCKER_HOST"


async def start_services(run_id: str, job_id: str) -> Checkpoint:
    """Start every service and wait until each is ready; with an error when one is not."""
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
        caps=capabilities(runtime).containers,
        job_id=job_id,
        index=SERVICES_INDEX,
        spec=None,
        job_env=dict(job.env),
        step_env={},
        run_status=Status.RUNNING,
        engine_error=False,
        timeout=None,
        log=sink.write,
    )
    try:
        started = StartedServices(await _start(ctx, job))
    except ServiceFailed as exc:
        started = StartedServices([], exc.message)
        await ctx.info(exc.message)
    await sink.flush()
    status = Status.FAILED if started.error else Status.SUCCEEDED
    await asyncio.to_thread(_record, runtime, run_id, job_id, job, status, started.error)
    return started.checkpoint()


async def _start(ctx: StepContext[None, Containers], job: Job) -> list[ServiceHandle]:
    """Start the services one by one, each ready before the next; on a failure, stop
    those started and raise it."""
    executor = ctx.caps.executor
    if executor is None:
        raise ServiceFailed(NO_ENGINE)
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
            handle = await executor.start_service(name, run, auth=ctx.caps.pull_auth(run.image))
            started.append(handle)
            ready = service.ready
            await executor.wait_ready(
                handle,
                tcp_port=ready.port if ready else None,
                command=[ctx.render(a) for a in ready.command] if ready and ready.command else None,
                timeout=ready.timeout if ready else 60.0,
            )
            await ctx.info(f"service {name} ready ({run.image})")
    except ServiceFailed:
        for handle in started:
            await executor.stop_service(handle)
        raise
    return started


def _record(
    runtime: Runtime, run_id: str, job_id: str, job: Job, status: Status, error: str
) -> None:
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


async def stop_services(run_id: str, job_id: str, services: list[ServiceHandle]) -> None:
    executor = capabilities(get_runtime()).containers.executor
    if executor is None:
        return
    for handle in services:
        await executor.stop_service(handle)
