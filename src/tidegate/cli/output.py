"""What a command prints, without Typer: the rich consoles (made on first use), JSON,
an error line.

Typer-free so that `tidegate promote SRC DST` (cli/promoting.py) starts without Typer or
click; base.py re-exports these for the other commands.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_consoles: dict[str, Console] = {}


def console(name: str) -> Console:
    """`out` or `err`, a rich console, made on first use: importing rich.console costs a
    command that prints plain lines (`tidegate promote` in a script) tens of ms."""
    made = _consoles.get(name)
    if made is not None:
        return made
    from rich.console import Console

    # Piped output is not cut to 80 columns: ids must survive `grep` and `awk`.
    stream = sys.stdout if name == "out" else sys.stderr
    made = Console(stderr=name == "err", width=None if stream.isatty() else 250)
    _consoles[name] = made
    return made


def say_error(message: str) -> None:
    """`error: MESSAGE` on stderr, in red on a terminal."""
    if sys.stderr.isatty():
        console("err").print(f"[red]error:[/red] {message}", highlight=False)
    else:  # as rich would print it there, without importing rich (tens of ms)
        sys.stderr.write(f"error: {message}\n")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
