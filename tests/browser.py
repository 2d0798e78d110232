"""Debian's Chromium for Playwright: its own browser download cannot work here.

`.ci/run` installs the `chromium` package; the tests launch it by path, headless, with
the flags that keep it off the network (background updates, sync, component downloads).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support import require

CHROMIUM_FLAGS = [
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def chromium() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    require(Path(found).exists(), "Debian's chromium is not installed (apt-get install chromium)")
    return found
