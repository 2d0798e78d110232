"""The poller (poll/poller.py) wired to the engine: its runs are planned and started
as the intake's are, and it reaches registries as promotion does (the allow-list,
logins, plain-HTTP hosts and timeouts of the settings; the process's credentials)."""

from __future__ import annotations

from tidegate.config import Settings
from tidegate.engine.intake_runs import IntakeRuns
from tidegate.engine.launcher import Launcher
from tidegate.engine.runtime import Runtime
from tidegate.poll.poller import Poller
from tidegate.registry import RegistryClient
from tidegate.workflows import WorkflowDirectory


def build_poller(
    settings: Settings, runtime: Runtime, workflows: WorkflowDirectory, launcher: Launcher
) -> Poller:
    def client() -> RegistryClient:
        return RegistryClient.from_settings(settings, runtime.credentials)

    return Poller(runtime.db, workflows, IntakeRuns(workflows, launcher), client)
