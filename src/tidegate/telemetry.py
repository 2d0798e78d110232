"""Durations the engine observes as it runs steps and ends runs, for `/metrics`.

Unlike the counts in `/metrics`, which are read from the database, durations are kept
by the process that ran the step or ended the run: with several engine processes on one
database, sum them across processes (as Prometheus histograms are meant to be).
"""

from __future__ import annotations

from prometheus_client import Histogram

STEP_SECONDS = Histogram(
    "tidegate_step_duration_seconds",
    "How long steps ran (one attempt), by kind and outcome.",
    ["kind", "status"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
    registry=None,  # added to each app's registry (web/metrics.py)
)

RUN_SECONDS = Histogram(
    "tidegate_run_duration_seconds",
    "How long runs took, from the event to the end (approvals included), by workflow and outcome.",
    ["workflow", "status"],
    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600),
    registry=None,
)

APPROVAL_SECONDS = Histogram(
    "tidegate_approval_wait_seconds",
    "How long approvals stayed open, by outcome (approved, rejected, timed_out, cancelled).",
    ["outcome"],
    buckets=(60, 300, 900, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600),
    registry=None,
)
