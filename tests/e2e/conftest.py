"""End-to-end fixtures: Playwright launches Debian's Chromium (see tests/e2e/browser.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser import launch_args


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return launch_args(browser_type_launch_args)
