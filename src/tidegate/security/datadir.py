"""The data directory is the owner's alone: 0700, and 0600 for the files in it.

It holds the SQLite databases (raw webhook bodies: Docker Hub callback URLs are secrets),
the first start's credentials and the process-group ledger. `mkdir(mode=0o700)` only
sets the mode of a directory it creates: one made by hand, or by an older release,
keeps its mode, and SQLite creates its files with the umask's (0644 here). So every
start tightens what is there and says what it changed.

SQLite gives a database's `-wal` and `-shm` files the mode of the database file, so the
databases are created owner-only before SQLite first opens them.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
_OTHERS = 0o077  # group and other bits


def secure_data_dir(data_dir: Path, databases: Iterable[Path] = ()) -> list[str]:
    """Create or tighten `data_dir` and its top-level entries; warn about what was loose.

    `databases` (SQLite files in the directory) are created owner-only if missing.
    Returns what was tightened, as "path (was 0755)" strings.
    """
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for path in databases:
        if path.parent.resolve() == data_dir.resolve():
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    loosened = [_tighten(data_dir)]
    for entry in data_dir.iterdir():
        if not entry.is_symlink():  # a link is not ours to change: it may point anywhere
            loosened.append(_tighten(entry))
    changed = [item for item in loosened if item]
    if changed:
        log.warning(
            "the data directory was readable by others; tightened to owner-only: %s",
            ", ".join(changed),
        )
    return changed


def _tighten(path: Path) -> str:
    """Take away every group and other permission; "" when there were none."""
    current = stat.S_IMODE(path.stat().st_mode)
    if not current & _OTHERS:
        return ""
    path.chmod(current & ~_OTHERS)
    return f"{path} (was {current:04o})"
