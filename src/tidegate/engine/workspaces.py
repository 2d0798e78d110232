"""Per-run workspaces (`DATA_DIR/workspaces/RUN_ID`): gone when their run ends.

A run that succeeded has nothing left to look at: its workspace goes at once (or after
`workspace_keep_succeeded_hours`, when set). After any other end it stays
`workspace_keep_failed_hours`, for someone to see what the steps left, and the prune's
sweep removes it after that, as it removes the workspace
of a run that no longer exists (pruned, or a crash between end and removal).
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from tidegate.engine.runtime import Runtime
from tidegate.status import LIVE, Status
from tidegate.store.models import Run

log = logging.getLogger(__name__)

# A directory with no run is left this long: never race a run being set up.
ORPHAN_GRACE = timedelta(hours=1)
CHUNK = 500


def on_run_end(runtime: Runtime, run_id: str, status: str) -> None:
    """Called as the run's end is recorded (after its `finally` steps)."""
    if _keep_hours(runtime, status) == 0:
        remove(runtime.workspaces / run_id)


def _keep_hours(runtime: Runtime, status: str) -> float:
    settings = runtime.settings
    if status == Status.SUCCEEDED:
        return settings.workspace_keep_succeeded_hours
    return settings.workspace_keep_failed_hours


def remove(path: Path) -> bool:
    """Remove one workspace; whether it is gone. Files a container made under another
    user may refuse: said in the log, tried again by the next sweep."""
    if not path.is_dir() or path.is_symlink():
        return False
    problems: list[str] = []
    shutil.rmtree(path, onerror=lambda _f, p, e: problems.append(f"{p}: {e[1]}"))
    if problems:
        log.warning("could not remove all of workspace %s: %s", path, problems[0])
    return not path.exists()


def sweep(runtime: Runtime, now: datetime) -> int:
    """Remove the workspaces whose time is up; how many went."""
    root = runtime.workspaces
    if not root.is_dir():
        return 0
    found = {p.name: p for p in root.iterdir() if p.is_dir() and not p.is_symlink()}
    names = sorted(found)
    runs: dict[str, tuple[str, datetime | None]] = {}
    with runtime.db.session() as session:
        for at in range(0, len(names), CHUNK):
            rows = session.execute(
                select(Run.id, Run.status, Run.finished_at).where(
                    Run.id.in_(names[at : at + CHUNK])
                )
            )
            runs.update({run_id: (status, finished) for run_id, status, finished in rows})
    removed = 0
    for name, path in found.items():
        if _due(runtime, runs.get(name), path, now) and remove(path):
            removed += 1
    return removed


def _due(
    runtime: Runtime, run: tuple[str, datetime | None] | None, path: Path, now: datetime
) -> bool:
    if run is None:
        changed = datetime.fromtimestamp(path.stat().st_mtime, tz=now.tzinfo)
        return now - changed > ORPHAN_GRACE
    status, finished = run
    if status in LIVE or finished is None:
        return False
    return now - finished >= timedelta(hours=_keep_hours(runtime, status))
