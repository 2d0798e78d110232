"""A record on disk of the process groups a server started, to reap them after a crash.

A kill -9 of the server leaves its step processes running, orphaned. On the next start
they would run beside the step's re-execution. Each group is written down with its
start time and its owner's; `reap` kills the groups whose owner is gone and whose
leader is still the same process (the start time rules out a recycled pid).
"""

from __future__ import annotations

import os
import signal
from contextlib import suppress
from pathlib import Path


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


class GroupLedger:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._owner = f"{os.getpid()} {_start_time(os.getpid())}"

    def record(self, pgid: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / str(pgid)).write_text(f"{_start_time(pgid)} {self._owner}\n")

    def forget(self, pgid: int) -> None:
        with suppress(FileNotFoundError):
            (self.directory / str(pgid)).unlink()

    def reap(self) -> list[int]:
        """Kill orphaned groups of dead owners; returns the pgids killed."""
        killed: list[int] = []
        if not self.directory.is_dir():
            return killed
        for entry in self.directory.iterdir():
            try:
                pgid = int(entry.name)
                started, owner_pid, owner_started = entry.read_text().split()
            except (ValueError, OSError):
                entry.unlink(missing_ok=True)
                continue
            if _start_time(int(owner_pid)) == owner_started:
                continue  # its server is alive (another process on this data dir)
            if _start_time(pgid) == started:
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
                    killed.append(pgid)
            entry.unlink(missing_ok=True)
        return killed
