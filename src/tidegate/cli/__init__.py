"""The `tidegate` command. Exit codes: 0 ok, 1 failure or invalid, 2 usage.

One module per group of commands; each registers on the apps in `base`. `main` imports
only the module of the command it runs: `tidegate runs` needs Typer, the settings and an
HTTP client, not SQLAlchemy, Alembic, FastAPI, DBOS or the CEL grammar (importing them
all made `tidegate --help` take ~780 ms, issue 11). `tidegate --version` imports nothing
more than this module, and `tidegate promote SRC DST` runs without Typer (promoting.py
`run_plainly`). `app`, with every command on it, is made on first use
(`__getattr__`), for the tests and `tidegate --help`.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

from tidegate import __version__

if TYPE_CHECKING:
    from typer import Typer

    app: Typer

# Each command (or group) and its module; the modules load in this order for the full
# app, which is the order `tidegate --help` lists the commands in.
COMMANDS = {
    "serve": "server",
    "db": "server",
    "validate": "workflow_files",
    "schema": "workflow_files",
    "events": "reading",
    "runs": "reading",
    "run": "reading",
    "logs": "reading",
    "approve": "acting",
    "reject": "acting",
    "cancel": "acting",
    "rerun": "acting",
    "replay": "acting",
    "simulate": "simulate",
    "promote": "promote",
    "hook": "access",
    "token": "access",
    "user": "users",
    "prune": "retention",
}


def _load(*modules: str) -> Typer:
    """The app, with the commands of `modules` (all of them when none is named)."""
    for module in modules or dict.fromkeys(COMMANDS.values()):
        importlib.import_module(f"tidegate.cli.{module}")
    from tidegate.cli.base import app

    return app


def __getattr__(name: str) -> object:
    if name == "app":
        return _load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command(args: list[str]) -> tuple[list[str], str | None]:
    """The options before the command (the root's take no value), and the command."""
    for i, arg in enumerate(args):
        if not arg.startswith("-"):
            return args[:i], arg
    return args, None


def main() -> None:
    options, command = _command(sys.argv[1:])
    if "--version" in options:  # as Typer's eager option would, without loading Typer
        sys.stdout.write(f"tidegate {__version__}\n")
        return
    # Help (`-h` before any command), a typo or no command: every command, for the
    # listing and Typer's suggestions.
    module = None if options else COMMANDS.get(command or "")
    from tidegate.errors import TidegateError

    try:
        if module == "promote":  # a retag's start is most of its time: skip Typer
            from tidegate.cli.promoting import run_plainly

            code = run_plainly(sys.argv[2:])
            if code is not None:
                sys.exit(code)
        run = _load(module) if module else _load()
        run()
    except TidegateError as exc:
        from tidegate.cli.output import console

        console("err").print(f"error: {exc.message}")
        sys.exit(1)
