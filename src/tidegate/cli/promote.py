"""`tidegate promote SRC DST`: a promotion by hand, outside any run, with the same
client (and registry allow-list) the `promote:` step uses.

This is the Typer command, for help and for arguments `run_plainly` leaves to Typer;
what it does is in cli/promoting.py, which a plain `tidegate promote SRC DST` runs
without importing Typer.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tidegate.cli import promoting
from tidegate.cli.base import JsonFlag, app


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
    code = promoting.promote(source, destination, signatures=signatures, as_json=as_json)
    if code:
        raise typer.Exit(code)
