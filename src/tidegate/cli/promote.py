"""`tidegate promote SRC DST`: a promotion by hand, outside any run, with the same
client (and registry allow-list) the `promote:` step uses.

Its start is most of a retag's time on a near registry, so it imports neither pydantic
(`registry_settings` reads the few settings it needs) nor rich (plain lines; a progress
bar only on a terminal): tests/unit/test_cli_imports.py holds it to that.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from tidegate.cli.base import JsonFlag, app, fail, print_json
from tidegate.cli.registry_settings import registry_settings
from tidegate.errors import TidegateError
from tidegate.registry import ImageRef, RegistryClient
from tidegate.registry.copying import CopyResult
from tidegate.registry.referrers import Carried
from tidegate.registry.settings import RegistrySettings


@app.command()
def promote(
    source: Annotated[str, typer.Argument(metavar="SRC", help="registry/repo:tag or @digest")],
    destination: Annotated[str, typer.Argument(metavar="DST", help="registry/repo:tag")],
    all_platforms: Annotated[
        bool,
        typer.Option(
            "--all-platforms",
            help="Copy every platform of a multi-arch image (always done: a partial "
            "index would change the digest).",
        ),
    ] = True,
    signatures: Annotated[
        bool,
        typer.Option(
            "--signatures",
            help="Also carry the image's signatures, attestations and SBOMs: OCI referrers "
            "(or their sha256-<hex> fallback tag) and cosign's .sig/.att/.sbom tags.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Copy an image to another tag, repository or registry by digest, through the
    registry API (credentials from docker config.json and Tidegate's settings)."""
    del all_platforms

    def copy(on_progress: Callable[[int], None] | None) -> HandPromotion:
        run = promote_by_hand(cfg, source, destination, on_progress, signatures=signatures)
        return asyncio.run(run)

    try:
        cfg = registry_settings()
        # A bar only where someone watches: a pipe or a log shows none, and a script's
        # promotion starts without rich (tens of ms to import on a busy machine).
        done = _with_progress(copy) if sys.stderr.isatty() else copy(None)
    except TidegateError as exc:
        raise fail(exc.message) from exc
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


# `promote`'s flags, by parameter: `run_plainly` takes these and nothing else
# (test_promote_plainly.py holds them to the command's).
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
        promote(source, destination, signatures="signatures" in seen, as_json="as_json" in seen)
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("\nAborted!\n")  # as Typer (click) says it
        return 1
    return 0


def _with_progress(copy: Callable[[Callable[[int], None]], HandPromotion]) -> HandPromotion:
    from rich.progress import DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from tidegate.cli.base import err

    columns = (TextColumn("copying"), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
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
    """Resolve SRC to its digest now, then copy exactly that digest to DST; with
    `signatures`, then what refers to it (referrers, cosign tags) to DST's repository."""
    source = ImageRef.parse(source_text)
    destination = ImageRef.parse(destination_text)
    async with RegistryClient.from_settings(settings) as client:
        client.check_reach(source, destination)
        if not source.digest:
            source = source.with_digest((await client.resolve(source)).digest)
        result = await client.copy(source, destination, on_progress=on_progress)
        carried = await client.copy_referrers(source, destination) if signatures else None
    return HandPromotion(source, destination, result, carried)
