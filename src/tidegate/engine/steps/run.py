"""`run:` a host shell script through the local executor."""

from __future__ import annotations

from tidegate.engine.steps.base import StepContext
from tidegate.errors import StepFailed
from tidegate.executors.base import CommandSpec, LogLine
from tidegate.executors.local import shell_argv


class RunStep:
    name = "run"

    async def execute(self, ctx: StepContext) -> None:
        spec = ctx.spec
        cwd = ctx.cwd
        if spec.working_directory:
            cwd = cwd / ctx.render(spec.working_directory)
        if not cwd.is_dir():
            raise StepFailed(f"working directory {cwd} does not exist")
        command = CommandSpec(
            argv=shell_argv(ctx.render(spec.script), spec.shell),
            env=ctx.env,
            cwd=str(cwd),
            timeout=ctx.timeout,
        )

        async def on_line(line: LogLine) -> None:
            await ctx.log(line.stream, line.text)

        outcome = await ctx.runtime.executors["local"].run(command, on_line, ctx.cancel)
        ctx.notes["exit_code"] = outcome.exit_code
        if outcome.cancelled:
            raise StepFailed("cancelled", status="cancelled")
        if outcome.timed_out:
            raise StepFailed(f"timed out after {ctx.timeout:g}s", status="timed_out")
        if outcome.exit_code != 0:
            raise StepFailed(f"exit code {outcome.exit_code}")
