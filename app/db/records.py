"""What the index stores, derived from domain results: pure functions, no SQL.

Also used by bulk loaders (``benchmarks/leaderboard.py``) so that they write exactly the
rows that ``mirror_sweep`` would.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.db.ranking import (
    TrialScore,
    fingerprint,
    loss_rank,
    storable,
    trial_phase,
    value_rank,
)
from app.domain import (
    CheckpointInfo,
    RungResult,
    SweepRequest,
    SweepResult,
    SweepStatus,
    TrialResult,
)
from app.domain.request import Direction, MetricName, Strategy


class SweepRecord(BaseModel):
    """What the index stores about a sweep itself (trials apart)."""

    model_config = ConfigDict(frozen=True)

    sweep_id: str
    name: str
    status: SweepStatus
    metric: MetricName
    direction: Direction
    strategy: Strategy | None = None
    current_rung: int = 0
    request: dict[str, Any] | None = None
    error: str | None = None
    best_trial_id: str | None = None
    best_objective_value: float | None = None
    result_count: int = 0
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @classmethod
    def from_result(
        cls,
        result: SweepResult,
        request: SweepRequest | None = None,
        *,
        result_count: int | None = None,
    ) -> SweepRecord:
        """``result_count``: rung results in the whole sweep; counted from ``result.trials``
        when None, which is right only when the snapshot holds every trial."""
        best = result.best
        if result_count is None:
            result_count = sum(len(t.rungs) for t in result.trials)
        return cls(
            sweep_id=result.sweep_id,
            name=result.name,
            status=result.status,
            metric=result.metric,
            direction=result.direction,
            strategy=request.strategy if request else None,
            current_rung=result.current_rung,
            request=request.model_dump(mode="json") if request else None,
            error=result.error,
            best_trial_id=best.trial_id if best else None,
            best_objective_value=storable(best.objective_value) if best else None,
            result_count=result_count,
            created_at=result.started_at,
            started_at=result.started_at,
            ended_at=result.ended_at,
        )

    @classmethod
    def from_request(
        cls, sweep_id: str, request: SweepRequest, *, created_at: datetime | None = None
    ) -> SweepRecord:
        """A sweep that was just started: no progress yet."""
        return cls(
            sweep_id=sweep_id,
            name=request.name,
            status=SweepStatus.RUNNING,
            metric=request.objective.metric,
            direction=request.objective.resolved_direction,
            strategy=request.strategy,
            request=request.model_dump(mode="json"),
            created_at=created_at,
        )


def trial_row(
    sweep_id: str, trial: TrialResult, direction: Direction, now: datetime, fp: int | None = None
) -> dict[str, Any]:
    score = TrialScore(trial, direction)
    metrics, checkpoint = score.metrics, trial.checkpoint
    return {
        "sweep_id": sweep_id,
        "trial_id": trial.trial_id,
        "trial_index": trial.trial_index,
        "params": dict(trial.params),
        "seed": trial.seed,
        "status": trial.status.value,
        "rung": trial.rung,
        "phase": trial_phase(trial.status),
        "scored_rung": score.scored_rung,
        "objective_value": storable(score.value),
        "accuracy": storable(metrics.accuracy) if metrics else None,
        "f1_macro": storable(metrics.f1_macro) if metrics else None,
        "eval_loss": storable(metrics.eval_loss) if metrics else None,
        "num_examples": metrics.num_examples if metrics else None,
        "rank_group": score.rank_group,
        "rank_value": score.rank_value,
        "rank_tie": score.rank_tie,
        "train_seconds": trial.train_seconds,
        "checkpoint_path": checkpoint.path if checkpoint else None,
        "checkpoint_step": checkpoint.step if checkpoint else -1,
        "checkpoint_epoch": checkpoint.epoch if checkpoint else None,
        "checkpoint_rung": checkpoint.rung if checkpoint else None,
        "checkpoint_reason": checkpoint.reason if checkpoint else None,
        "error": trial.error,
        "fingerprint": fingerprint(trial) if fp is None else fp,
        "updated_at": now,
    }


def rung_row(
    sweep_id: str, trial: TrialResult, result: RungResult, direction: Direction, now: datetime
) -> dict[str, Any]:
    group, rank_value = value_rank(result.objective_value, direction)
    metrics = result.metrics
    return {
        "sweep_id": sweep_id,
        "trial_id": trial.trial_id,
        "rung": result.rung,
        "trial_index": trial.trial_index,
        "budget": result.budget,
        "global_step": result.global_step,
        "accuracy": storable(metrics.accuracy),
        "f1_macro": storable(metrics.f1_macro),
        "eval_loss": storable(metrics.eval_loss),
        "num_examples": metrics.num_examples,
        "objective_value": storable(result.objective_value),
        "rank_group": group,
        "rank_value": rank_value,
        "rank_tie": loss_rank(metrics),
        "train_seconds": result.train_seconds,
        "eval_seconds": result.eval_seconds,
        "checkpoint_path": result.checkpoint.path,
        "checkpoint_step": result.checkpoint.step,
        "updated_at": now,
    }


def checkpoint_rows_of(sweep_id: str, trial: TrialResult, now: datetime) -> list[dict[str, Any]]:
    """The trial's rung-end checkpoints and its latest one, one per step."""
    by_step: dict[int, CheckpointInfo] = {r.checkpoint.step: r.checkpoint for r in trial.rungs}
    if trial.checkpoint is not None:
        by_step.setdefault(trial.checkpoint.step, trial.checkpoint)
    return [
        {
            "sweep_id": sweep_id,
            "trial_id": trial.trial_id,
            "step": step,
            "rung": c.rung,
            "epoch": c.epoch,
            "path": c.path,
            "reason": c.reason,
            "created_at": now,
        }
        for step, c in sorted(by_step.items())
    ]


def sweep_row(record: SweepRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": record.sweep_id,
        "name": record.name,
        "status": record.status.value,
        "metric": record.metric,
        "direction": record.direction,
        "strategy": record.strategy,
        "current_rung": record.current_rung,
        "request": record.request,
        "error": record.error,
        "best_trial_id": record.best_trial_id,
        "best_objective_value": record.best_objective_value,
        "trial_count": 0,
        "result_count": record.result_count,
        "created_at": record.created_at or now,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "updated_at": now,
    }
