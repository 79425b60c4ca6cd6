"""Database rows to the typed rows of app/db/rows.py."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Column, ColumnElement, RowMapping

from app.db.models import SWEEPS, TRIALS
from app.domain import CheckpointInfo, TrialMetrics
from app.domain.rows import SweepDetail, SweepRow, TrialRow

# The columns that make a TrialRow. A per-rung view replaces the score columns with the
# rung's own (same labels), so one mapping function serves both.
SCORE_COLUMNS = (
    "scored_rung",
    "objective_value",
    "accuracy",
    "f1_macro",
    "eval_loss",
    "num_examples",
)
TRIAL_COLUMNS: tuple[Column[Any], ...] = tuple(
    TRIALS.c[name]
    for name in (
        "trial_id",
        "trial_index",
        "status",
        "params",
        "seed",
        "rung",
        *SCORE_COLUMNS,
        "train_seconds",
        "checkpoint_path",
        "checkpoint_step",
        "checkpoint_epoch",
        "checkpoint_rung",
        "checkpoint_reason",
        "error",
        "updated_at",
    )
)
SWEEP_COLUMNS: tuple[ColumnElement[Any], ...] = tuple(
    c.label("sweep_id") if c.name == "id" else c
    for c in SWEEPS.c
    if c.name not in ("request", "result_count")
)


def nan_if_null(value: float | None) -> float:
    """NaN is stored as NULL in columns whose domain value is always a float."""
    return math.nan if value is None else value


def trial_fields(row: RowMapping) -> dict[str, Any]:
    scored = row["scored_rung"] >= 0
    metrics = None
    if scored and row["num_examples"] is not None:
        metrics = TrialMetrics(
            accuracy=nan_if_null(row["accuracy"]),
            f1_macro=nan_if_null(row["f1_macro"]),
            eval_loss=nan_if_null(row["eval_loss"]),
            num_examples=row["num_examples"],
        )
    checkpoint = None
    if row["checkpoint_path"] is not None:
        checkpoint = CheckpointInfo(
            path=row["checkpoint_path"],
            step=row["checkpoint_step"],
            epoch=row["checkpoint_epoch"] or 0.0,
            rung=row["checkpoint_rung"] or 0,
            reason=row["checkpoint_reason"] or "interval",
        )
    return {
        "trial_id": row["trial_id"],
        "trial_index": row["trial_index"],
        "status": row["status"],
        "params": row["params"],
        "seed": row["seed"],
        "rung": row["rung"],
        "scored_rung": row["scored_rung"] if scored else None,
        "objective_value": nan_if_null(row["objective_value"]) if scored else None,
        "metrics": metrics,
        "train_seconds": row["train_seconds"],
        "checkpoint": checkpoint,
        "error": row["error"],
        "updated_at": row["updated_at"],
    }


def to_trial_row(row: RowMapping) -> TrialRow:
    return TrialRow(**trial_fields(row))


def to_sweep_row(row: RowMapping) -> SweepRow:
    return SweepRow.model_validate(dict(row))


def to_sweep_detail(row: RowMapping) -> SweepDetail:
    return SweepDetail.model_validate(dict(row))
