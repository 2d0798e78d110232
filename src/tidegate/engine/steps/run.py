"""`run:` a host shell script through the local executor.

The script's `${{ }}` values reach the shell as TIDEGATE_EXPR_<n> variables, never as
script text (see workflows/shell.py).
"""

from __future__ import annotations

from pathlib import Path

from tidegate.engine.steps.base import StepContext
from tidegate.errors import StepFailed
from tidegate.executors.base import CommandSpec, LogLine
from tidegate.executors.local import shell_argv
from tidegate.workflows import compile_template
from tidegate.workflows.shell import UnsafeScript, compile_run_script


class RunStep:
    name = "run"

    async def execute(self, ctx: StepContext) -> None:
        spec = ctx.spec
        cwd = ctx.cwd
        if spec.working_directory:
            cwd = cwd / ctx.render(spec.working_directory)
            # A value from the event (`../..` in a pusher, say) must not move the step out
            # of the directory the workflow author chose; a literal path may go anywhere.
            if not compile_template(spec.working_directory).is_static and not _within(cwd, ctx.cwd):
                raise StepFailed(f"working directory {cwd} is outside {ctx.cwd}")
        if not cwd.is_dir():
            raise StepFailed(f"working directory {cwd} does not exist")
        try:
            script = compile_run_script(spec.script, spec.shell)
        except UnsafeScript as exc:  # validation refuses it first; never splice a value
            raise StepFailed(exc.message) from exc
        command = CommandSpec(
            argv=shell_argv(script.text, spec.shell),
            # Ours last: no `env:` can stand in for a value the script reads.
            env={**ctx.env, **script.environment(ctx.render)},
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


def _within(path: Path, base: Path) -> bool:
    return path.resolve().is_relative_to(base.resolve())
