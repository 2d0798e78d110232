"""A record on disk of the process groups a server started, to reap them after a crash.

A kill -9 of the server leaves its step processes running, orphaned. On the next start
they would run beside the step's re-execution. Each group is written down with its
start time and its owner's; `reap` kills the groups whose owner is gone and whose
leader is still the same process (the start time rules out a recycled pid).

A group's pid is known only once the process runs, and a kill in between (seen under
load in the kill -9 loop test) left steps that no record named. So before a spawn the
executor `claim`s a key, written down first and given to the child in its environment
(`KEY_VARIABLE`); `reap` also kills the groups of processes that carry the key of a dead
owner's claim that never became a record.
"""

from __future__ import annotations

import os
import secrets
import signal
from contextlib import suppress
from pathlib import Path

KEY_VARIABLE = "TIDEGATE_STEP_KEY"
_CLAIM = "key-"


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

    def claim(self) -> str:
        """Before a spawn: a key for the child's environment, written down first."""
        key = secrets.token_hex(8)
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{_CLAIM}{key}").write_text(f"- {self._owner}\n")
        return key

    def release(self, key: str) -> None:
        """The spawn failed, or its group is on record: the claim is done with."""
        (self.directory / f"{_CLAIM}{key}").unlink(missing_ok=True)

    def record(self, pgid: int, key: str | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / str(pgid)).write_text(f"{_start_time(pgid)} {self._owner}\n")
        if key is not None:
            self.release(key)

    def forget(self, pgid: int) -> None:
        with suppress(FileNotFoundError):
            (self.directory / str(pgid)).unlink()

    def reap(self) -> list[int]:
        """Kill orphaned groups of dead owners; returns the pgids killed."""
        killed: list[int] = []
        if not self.directory.is_dir():
            return killed
        keys: set[str] = set()
        for entry in self.directory.iterdir():
            try:
                started, owner_pid, owner_started = entry.read_text().split()
                if _start_time(int(owner_pid)) == owner_started:
                    continue  # its server is alive (another process on this data dir)
                if entry.name.startswith(_CLAIM):
                    keys.add(entry.name.removeprefix(_CLAIM))
                elif _start_time(int(entry.name)) == started:
                    killed += _kill_group(int(entry.name))
            except (ValueError, OSError):
                pass  # not a record of ours, or half-written: nothing to kill by it
            entry.unlink(missing_ok=True)
        if keys:
            for pid in _carrying(keys):
                with suppress(OSError):
                    killed += _kill_group(os.getpgid(pid))
        return killed


def _kill_group(pgid: int) -> list[int]:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
        return [pgid]
    return []


def _carrying(keys: set[str]) -> list[int]:
    """Pids of processes whose environment holds one of `keys` as KEY_VARIABLE."""
    wanted = {f"{KEY_VARIABLE}={key}".encode() for key in keys}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or another user's
            continue
        if wanted & set(environ.split(b"\0")):
            found.append(int(entry.name))
    return found
