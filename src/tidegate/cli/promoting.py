"""What `tidegate promote SRC DST` does once its arguments are known, and `run_plainly`,
which knows them without Typer (cli/promote.py defines the Typer command).

Its start is most of a retag's time on a near registry, so this imports neither Typer
nor click (their import is tens of ms, and Typer's parsing coerces through pydantic),
nor pydantic (`registry_settings` reads the few settings it needs), nor rich (plain
lines; a progress bar only on a terminal): tests/unit/test_cli_imports.py holds it to
that.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tidegate.cli.output import console, print_json, say_error
from tidegate.cli.registry_settings import registry_settings
from tidegate.errors import TidegateError
from tidegate.registry import ImageRef, RegistryClient
from tidegate.registry.copying import CopyResult
from tidegate.registry.referrers import Carried
from tidegate.registry.settings import RegistrySettings

# `promote`'s flags, by parameter: `run_plainly` takes these and nothing else
# (test_promote_plainly.py holds them to the Typer command's).
FLAGS = {"--all-platforms": "all_platforms", "--signatures": "signatures", "--json": "as_json"}


def run_plainly(args: list[str]) -> int | None:
    """`tidegate promote ARGS` without Typer's parsing, where ARGS are SRC, DST and
    FLAGS: Typer 0.29 coerces each parameter through pydantic, which would be a third
    of the command's start. Returns the exit code; None, having done nothing, for any
    other ARGS (help, a typo, `--`, a value that looks like an option), which Typer
    then parses and answers as it always has."""
    seen, names = set(), []
    for arg in args:
        if arg in FLAGS:
            seen.add(FLAGS[arg])
        elif arg.startswith("-"):
            return None
        else:
            names.append(arg)
    if len(names) != 2:
        return None
    source, destination = names
    try:
        return promote(
            source, destination, signatures="signatures" in seen, as_json="as_json" in seen
        )
    except KeyboardInterrupt:
        sys.stderr.write("\nAborted!\n")  # as Typer (click) says it
        return 1


def promote(source: str, destination: str, *, signatures: bool, as_json: bool) -> int:
    """Copy SRC to DST and print what was done; the exit code (1, having said why)."""

    def copy(on_progress: Callable[[int], None] | None) -> HandPromotion:
        run = promote_by_hand(cfg, source, destination, on_progress, signatures=signatures)
        return asyncio.run(run)

    try:
        cfg = registry_settings()
        # A bar only where someone watches: a pipe or a log shows none, and a script's
        # promotion starts without rich (tens of ms to import on a busy machine).
        done = _with_progress(copy) if sys.stderr.isatty() else copy(None)
    except TidegateError as exc:
        say_error(exc.message)
        return 1
    result = done.result
    summary: dict[str, Any] = {
        "source": str(done.source),
        "destination": str(done.destination),
        "digest": result.digest,
        "mounted": result.mounted,
        "uploaded": result.uploaded,
        "skipped": result.skipped,
        "bytes": result.bytes,
    }
    if done.carried is not None:
        summary["signatures"] = {"carried": done.carried.count, **dataclasses.asdict(done.carried)}
    if as_json:
        print_json(summary)
    else:
        sys.stdout.write(
            f"{done.destination} → {result.digest} ({result.uploaded} blobs copied, "
            f"{result.mounted} mounted, {result.skipped} already there)\n"
        )
        if done.carried is not None:
            sys.stdout.write(done.carried.summary() + "\n")
    return 0


def _with_progress(copy: Callable[[Callable[[int], None]], HandPromotion]) -> HandPromotion:
    from rich.progress import DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("copying"), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console("err"), transient=True) as progress:
        task = progress.add_task("copy", total=None)
        return copy(lambda n: progress.advance(task, n))


@dataclass
class HandPromotion:
    source: ImageRef  # pinned
    destination: ImageRef
    result: CopyResult
    carried: Carried | None = None  # with signatures=True


async def promote_by_hand(
    settings: RegistrySettings,
    source_text: str,
    destination_text: str,
    on_progress: Callable[[int], None] | None = None,
    *,
    signatures: bool = False,
) -> HandPromotion:
    """Read the manifest SRC names now, then copy exactly those bytes (their digest) to
    DST; with `signatures`, then what refers to it (referrers, cosign tags) to DST's
    repository."""
    source = ImageRef.parse(source_text)
    destination = ImageRef.parse(destination_text)
    async with RegistryClient.from_settings(settings) as client:
        client.check_reach(source, destination)
        # Pinned as it is read: the bytes SRC names now, asked for alongside what DST
        # names, then copied byte for byte (their digest is the result's).
        result = await client.copy(source, destination, on_progress=on_progress, pin_on_read=True)
        source = source.with_digest(result.digest)
        carried = await client.copy_referrers(source, destination) if signatures else None
    return HandPromotion(source, destination, result, carried)
