"""Prometheus series of the orchestration worker's activities: the results-index mirror and
webhook deliveries. Served on the worker's metrics port (``workers/telemetry.py``)."""

from __future__ import annotations

from typing import get_args

from prometheus_client import Counter, Histogram

from app.webhooks.sender import Verdict

MIRROR_LAG = Histogram(
    "sweeps_mirror_lag_seconds",
    "From the oldest change a mirror write carries (workflow time, when the sweep recorded "
    "it) to that write's commit in the results index: how stale the index was.",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)
MIRROR_WRITES = Counter(
    "sweeps_mirror_writes",
    "mirror_results attempts, by outcome: ok, unavailable (index unreachable: retried), error.",
    ["outcome"],
)
MIRROR_TRIALS = Counter("sweeps_mirror_trials_written", "Trial rows written by the mirror.")

WEBHOOK_ATTEMPTS = Counter(
    "sweeps_webhook_attempts",
    "Webhook delivery attempts, by verdict: delivered, retry (408/429/5xx/network: tried "
    "again), failed (other 4xx/3xx), gone (410: endpoint disabled), refused (address guard).",
    ["verdict"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "sweeps_webhook_attempt_seconds",
    "Duration of one webhook attempt (connect, request, response).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WEBHOOK_GIVEN_UP = Counter(
    "sweeps_webhook_deliveries_given_up",
    "Deliveries marked failed after their retries ran out.",
)

# Every label value from the start, at zero: rate() needs the series before the first event.
for _outcome in ("ok", "unavailable", "error"):
    MIRROR_WRITES.labels(_outcome)
for _verdict in get_args(Verdict):
    WEBHOOK_ATTEMPTS.labels(_verdict)
