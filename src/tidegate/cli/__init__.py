"""The `tidegate` command. Exit codes: 0 ok, 1 failure or invalid, 2 usage.

One module per group of commands; each registers on the apps in `base`.
"""

from __future__ import annotations

import sys

# isort: off
# Imported in the order `tidegate --help` lists their commands.
from tidegate.cli import server, workflow_files, reading, acting, promote, access, users

# isort: on
from tidegate.cli.base import app, err
from tidegate.errors import TidegateError

__all__ = [
    "access",
    "acting",
    "app",
    "main",
    "promote",
    "reading",
    "server",
    "users",
    "workflow_files",
]


def main() -> None:
    try:
        app()
    except TidegateError as exc:
        err.print(f"error: {exc.message}")
        sys.exit(1)
