"""`/metrics`: the Prometheus client's process metrics, and Tidegate's own: counts read
from the database at each scrape (`store/stats.py`), so every process reports the whole
installation's figures and they survive restarts; and the durations this process's
engine observed (`telemetry.py`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tidegate.events.sources.auth import REFUSED as UNVERIFIED
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
    yield _family(
        CounterMetricFamily,
        "tidegate_events",
        "Registry events stored, by source.",
        ["source"],
        (((source,), n) for source, n in found.events.items()),
    )
    yield _family(
        CounterMetricFamily,
        "tidegate_runs_finished",
        "Runs that have ended, by workflow and final status.",
        ["workflow", "status"],
        found.runs_finished.items(),
    )
    yield _family(
        GaugeMetricFamily,
        "tidegate_runs_active",
        "Runs not ended yet (queued, running, waiting), by workflow and status.",
        ["workflow", "status"],
        found.runs_active.items(),
    )
    yield _family(
        CounterMetricFamily,
        "tidegate_steps_finished",
        "Steps that have ended, by kind and final status.",
        ["kind", "status"],
        found.steps_finished.items(),
    )
    yield GaugeMetricFamily(
        "tidegate_approvals_pending",
        "Approvals waiting for a decision.",
        value=found.approvals_pending,
    )
    yield _family(
        CounterMetricFamily,
        "tidegate_promotions",
        "Promotions recorded, by outcome (promoted, unchanged, skipped).",
        ["outcome"],
        (((outcome,), n) for outcome, n in found.promotions.items()),
    )
    yield _family(
        CounterMetricFamily,
        "tidegate_deliveries",
        "Callbacks and notifications, by kind and whether they were delivered.",
        ["kind", "result"],
        found.deliveries.items(),
    )


def _family(
    kind: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    documentation: str,
    labels: list[str],
    values: Iterable[tuple[tuple[str, ...], int]],
) -> Metric:
    family = kind(name, documentation, labels=labels)
    for key, n in sorted(values):
        family.add_metric(list(key), n)
    return family


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
    # Refused deliveries are stored nowhere: this process counts its own.
    registry.register(UNVERIFIED)
    return registry
