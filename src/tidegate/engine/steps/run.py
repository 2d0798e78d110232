"""`run:` a host shell script, on the executor for host commands (local).

The script's `${{ }}` values reach the shell as TIDEGATE_EXPR_<n> variables, never as
script text (see workflows/shell.py).
"""

from __future__ import annotations

from pathlib import Path

from tidegate.engine.capabilities import Capabilities, Commands
from tidegate.engine.steps.base import StepContext, judge, to_log
from tidegate.errors import StepFailed
from tidegate.executors.base import CommandSpec
from tidegate.executors.local import shell_argv
from tidegate.workflows import RunSpec, compile_template
from tidegate.workflows.shell import UnsafeScript, compile_run_script


class RunStep:
    name = "run"

    def grant(self, caps: Capabilities) -> Commands:
        return caps.commands

    async def execute(self, ctx: StepContext[RunSpec, Commands]) -> None:
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
        outcome = await ctx.caps.executor.run(command, to_log(ctx), ctx.cancel)
        judge(ctx, outcome, "command")


def _within(path: Path, base: Path) -> bool:
    return path.resolve().is_relative_to(base.resolve())
