"""What the real-parts tests need from the machine, as Debian packages: one list for
`scripts/test` (which installs what is missing when it runs as root), for the tests'
own checks and for the messages that say how to get a missing part.

Standard library only: `scripts/test` runs it with the system's python3 before the
virtual environment exists (`python3 tests/machine.py missing`).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

# What the tests look for (a command on PATH, or a file) -> the package that brings it.
# Podman runs containers with runc and conmon (its Debian dependencies name alternatives).
CONTAINER_TOOLS = {
    "podman": "podman",
    "runc": "runc",
    "conmon": "conmon",
    "skopeo": "skopeo",
    "umoci": "umoci",
    "docker-registry": "docker-registry",
    "/bin/busybox": "busybox-static",
}
BROWSER = {"chromium": "chromium"}
POSTGRES_PACKAGE = "postgresql"  # initdb and pg_ctl, for the tests' own server

CONTAINERS_CONF = Path("/etc/containers/containers.conf")
REGISTRIES_CONF = Path("/etc/containers/registries.conf.d/tidegate-test.conf")
# Written by scripts/containers-config. `*.0.0.1` is a wildcard registries.conf matches
# against the host, whatever the port: 127.0.0.1 on any port speaks plain HTTP, so the
# tests' registries can listen on ports the OS hands out.
CONTAINERS_SETTINGS = ('runtime = "runc"', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"')
REGISTRIES_SETTINGS = ('prefix = "*.0.0.1"', "insecure = true")

INSTALL = "sudo scripts/test --install-parts"
QUICK = "scripts/test --quick"


def _present(what: str) -> bool:
    return Path(what).exists() if what.startswith("/") else shutil.which(what) is not None


def missing_packages(tools: dict[str, str]) -> list[str]:
    """The packages to install for the tools in `tools` that this machine lacks."""
    return sorted({package for what, package in tools.items() if not _present(what)})


def postgres_bindir() -> Path | None:
    """The newest of Debian's PostgreSQL server directories with initdb and pg_ctl (or
    those on PATH)."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", path.parent.name)) or (0,)

    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.is_file()]
    for bindir in sorted(found, key=version, reverse=True):
        if (bindir / "pg_ctl").is_file():
            return bindir
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(initdb).resolve().parent
    return None


def containers_config_problems() -> list[str]:
    """What /etc/containers lacks for the tests' Podman (empty when ready)."""
    problems = []
    wanted = ((CONTAINERS_CONF, CONTAINERS_SETTINGS), (REGISTRIES_CONF, REGISTRIES_SETTINGS))
    for path, settings in wanted:
        text = path.read_text() if path.exists() else ""
        problems += [f"{path} lacks {setting}" for setting in settings if setting not in text]
    return problems


def everything_missing(*, postgres: bool) -> tuple[list[str], list[str]]:
    """(packages to install, other problems) for a full run; `postgres`: the tests will
    start their own PostgreSQL (no TIDEGATE_TEST_POSTGRES_URL)."""
    packages = missing_packages({**CONTAINER_TOOLS, **BROWSER})
    if postgres and postgres_bindir() is None:
        packages.append(POSTGRES_PACKAGE)
    return packages, containers_config_problems()


def how_to_get(packages: list[str]) -> str:
    """The advice a missing part's failure ends with."""
    named = f"`apt-get install {' '.join(packages)}`, or " if packages else ""
    return f"install with {named}`{INSTALL}`; `{QUICK}` skips the tests that need it"


def main(argv: list[str]) -> int:
    """`missing [--postgres]`: the packages to install, one a line; `config`: the
    /etc/containers problems, one a line. Exit 1 when anything is printed."""
    if argv[:1] == ["missing"]:
        out = everything_missing(postgres="--postgres" in argv)[0]
    elif argv[:1] == ["config"]:
        out = containers_config_problems()
    else:
        print("usage: machine.py missing [--postgres] | config", file=sys.stderr)
        return 2
    for line in out:
        print(line)
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
