"""`/metrics`: the Prometheus client's process metrics, and Tidegate's own: counts read
from the database at each scrape (`store/stats.py`), so every process reports the whole
installation's figures and they survive restarts; and the durations this process's
engine observed (`telemetry.py`)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tidegate.store.db import Database
from tidegate.store.stats import Counts, counts
from tidegate.telemetry import APPROVAL_SECONDS, RUN_SECONDS, STEP_SECONDS


class TidegateCollector(Collector):
    """Tidegate's figures, read from `db` when scraped."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        with self._db.session() as session:
            found = counts(session)
        yield from families(found)


def families(found: Counts) -> Iterator[Metric]:
    events = CounterMetricFamily(
        "tidegate_events", "Registry events stored, by source.", labels=["source"]
    )
    for source, n in sorted(found.events.items()):
        events.add_metric([source], n)
    yield events

    finished = CounterMetricFamily(
        "tidegate_runs_finished",
        "Runs that have ended, by workflow and final status.",
        labels=["workflow", "status"],
    )
    for (workflow, status), n in sorted(found.runs_finished.items()):
        finished.add_metric([workflow, status], n)
    yield finished

    active = GaugeMetricFamily(
        "tidegate_runs_active",
        "Runs not ended yet (queued, running, waiting), by workflow and status.",
        labels=["workflow", "status"],
    )
    for (workflow, status), n in sorted(found.runs_active.items()):
        active.add_metric([workflow, status], n)
    yield active

    steps = CounterMetricFamily(
        "tidegate_steps_finished",
        "Steps that have ended, by kind and final status.",
        labels=["kind", "status"],
    )
    for (kind, status), n in sorted(found.steps_finished.items()):
        steps.add_metric([kind, status], n)
    yield steps

    yield GaugeMetricFamily(
        "tidegate_approvals_pending",
        "Approvals waiting for a decision.",
        value=found.approvals_pending,
    )

    promotions = CounterMetricFamily(
        "tidegate_promotions",
        "Promotions recorded, by outcome (promoted, unchanged, skipped).",
        labels=["outcome"],
    )
    for outcome, n in sorted(found.promotions.items()):
        promotions.add_metric([outcome], n)
    yield promotions

    deliveries = CounterMetricFamily(
        "tidegate_deliveries",
        "Callbacks and notifications, by kind and whether they were delivered.",
        labels=["kind", "result"],
    )
    for (kind, result), n in sorted(found.deliveries.items()):
        deliveries.add_metric([kind, result], n)
    yield deliveries


def metrics_registry(db: Database) -> CollectorRegistry:
    """A registry for one app: the process collectors and Tidegate's."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(TidegateCollector(db))
    # Observed by this process's engine.
    for histogram in (STEP_SECONDS, RUN_SECONDS, APPROVAL_SECONDS):
        registry.register(histogram)
    return registry
