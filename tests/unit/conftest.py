"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from tidegate.registry import client as client_module


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The registry client's backoff sleeps, recorded instead of slept."""
    recorded: list[float] = []

    async def sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr(client_module, "_sleep", sleep)
    return recorded
