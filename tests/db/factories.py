"""Builders of SweepResult snapshots as the sweep workflow produces them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain import (
    CheckpointInfo,
    RungResult,
    SweepResult,
    SweepStatus,
    TrialMetrics,
    TrialResult,
    TrialStatus,
    trial_id,
)
from app.domain.request import Direction, MetricName
from app.domain.results import CheckpointReason

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def metrics(value: float, metric: MetricName = "accuracy") -> TrialMetrics:
    if metric == "eval_loss":
        return TrialMetrics(accuracy=0.5, f1_macro=0.4, eval_loss=value, num_examples=100)
    return TrialMetrics(accuracy=value, f1_macro=value / 2, eval_loss=1.5, num_examples=100)


def checkpoint(
    index: int, step: int, rung: int, reason: CheckpointReason = "rung_end"
) -> CheckpointInfo:
    return CheckpointInfo(
        path=f"/artifacts/s/{trial_id(index)}/checkpoint-{step}",
        step=step,
        epoch=step / 50,
        rung=rung,
        reason=reason,
    )


def trial(
    index: int,
    status: TrialStatus,
    values: list[float] | tuple[float, ...] = (),
    *,
    rung: int | None = None,
    metric: MetricName = "accuracy",
    latest: CheckpointInfo | None = None,
    error: str | None = None,
) -> TrialResult:
    """A trial with one result per value (rung 0, 1, ...); 10 steps per rung."""
    results = [
        RungResult(
            rung=r,
            budget=10.0 * (r + 1),
            global_step=10 * (r + 1),
            metrics=metrics(v, metric),
            objective_value=v,
            checkpoint=checkpoint(index, 10 * (r + 1), r),
            train_seconds=2.0,
            eval_seconds=0.5,
        )
        for r, v in enumerate(values)
    ]
    last = results[-1] if results else None
    return TrialResult(
        trial_id=trial_id(index),
        trial_index=index,
        params={"learning_rate": 1e-4 * (index + 1), "batch_size": 16, "warmup": index % 2 == 0},
        seed=1000 + index,
        status=status,
        rung=rung if rung is not None else max(len(results) - 1, 0),
        objective_value=last.objective_value if last else None,
        metrics=last.metrics if last else None,
        checkpoint=latest or (last.checkpoint if last else None),
        rungs=results,
        train_seconds=2.0 * len(results),
        error=error,
    )


def sweep(
    sweep_id: str,
    trials: list[TrialResult],
    *,
    status: SweepStatus = SweepStatus.RUNNING,
    current_rung: int = 0,
    direction: Direction = "maximize",
    metric: MetricName = "accuracy",
    name: str = "demo",
    started_at: datetime = T0,
    best: TrialResult | None = None,
) -> SweepResult:
    done = status not in (SweepStatus.RUNNING, SweepStatus.PAUSED)
    return SweepResult(
        sweep_id=sweep_id,
        name=name,
        status=status,
        metric=metric,
        direction=direction,
        current_rung=current_rung,
        best=best,
        trials=trials,
        started_at=started_at,
        ended_at=started_at + timedelta(hours=1) if done else None,
    )
