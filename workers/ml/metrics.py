"""Prometheus series of the training worker: checkpoint saves, throughput, trials running and
how training runs end. Served on the worker's metrics port (``workers/telemetry.py``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CHECKPOINT_SAVE_SECONDS = Histogram(
    "sweeps_checkpoint_save_seconds",
    "From the step that asked for a checkpoint to every file of it written (weights, "
    "optimizer, scheduler, RNG states).",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
TRAIN_STEPS = Counter("sweeps_train_steps", "Optimizer steps taken on this worker.")
TRAIN_SAMPLES = Counter(
    "sweeps_train_samples",
    "Training samples processed on this worker (steps x batch size x gradient accumulation); "
    "rate() of it is the worker's throughput.",
)
TRAIN_SAMPLES_PER_SECOND = Gauge(
    "sweeps_train_samples_per_second",
    "Throughput of the latest training run that finished on this worker (model loading excluded).",
)
TRIALS_RUNNING = Gauge("sweeps_trials_running", "fine_tune activities running on this worker.")
TRAINING_RUNS = Counter(
    "sweeps_training_runs",
    "fine_tune attempts that ended on this worker, by outcome: budget (reached the rung), "
    "paused, cancelled, interrupted (worker shutdown or timeout: retried), bad_input, failed.",
    ["outcome"],
)
RUN_OUTCOMES = ("budget", "paused", "cancelled", "interrupted", "bad_input", "failed")
for _outcome in RUN_OUTCOMES:
    TRAINING_RUNS.labels(_outcome)
