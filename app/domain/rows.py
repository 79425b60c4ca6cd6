"""Typed rows of the results index: what its repositories return, the API serialises and the
clients read back (pydantic only, so that clients never load the database layer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from app.domain import CheckpointInfo, RungResult, TrialMetrics, TrialResult, TrialStatus
from app.domain.request import Direction, MetricName, Strategy
from app.domain.results import SweepStatus
from app.domain.space import ParamValue

_ROW = ConfigDict(frozen=True, ser_json_inf_nan="constants")


class SweepRow(BaseModel):
    """A sweep as listed: no request body."""

    model_config = _ROW

    sweep_id: str
    name: str
    status: SweepStatus
    metric: MetricName
    direction: Direction
    strategy: Strategy | None
    current_rung: int
    best_trial_id: str | None
    best_objective_value: float | None
    trial_count: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    updated_at: datetime


class SweepDetail(SweepRow):
    request: dict[str, Any] | None = Field(description="The SweepRequest as JSON, if known.")


class TrialRow(BaseModel):
    """A trial as it stands: its latest scored result and its latest checkpoint."""

    model_config = _ROW

    trial_id: str
    trial_index: int
    status: TrialStatus
    params: dict[str, ParamValue]
    seed: int
    rung: int = Field(description="Highest rung reached (trained at).")
    scored_rung: int | None = Field(description="Rung of objective_value and metrics.")
    objective_value: float | None
    metrics: TrialMetrics | None
    train_seconds: float
    checkpoint: CheckpointInfo | None = Field(description="The trial's latest checkpoint.")
    error: str | None
    updated_at: datetime


class LeaderboardRow(TrialRow):
    rank: int = Field(ge=1, description="1-based position in this leaderboard's order.")


class TrialDetail(TrialRow):
    rungs: list[RungResult]
    checkpoints: list[CheckpointInfo] = Field(description="Every mirrored checkpoint, by step.")

    def to_trial_result(self) -> TrialResult:
        """The TrialResult this row mirrors (NaN values come back as NaN)."""
        return TrialResult(
            trial_id=self.trial_id,
            trial_index=self.trial_index,
            params=self.params,
            seed=self.seed,
            status=self.status,
            rung=self.rung,
            objective_value=self.objective_value,
            metrics=self.metrics,
            checkpoint=self.checkpoint,
            rungs=self.rungs,
            train_seconds=self.train_seconds,
            error=self.error,
        )


RowT = TypeVar("RowT", bound=BaseModel)


class Page(BaseModel, Generic[RowT]):
    model_config = _ROW

    items: list[RowT]
    total: int | None = Field(description="Rows matching the filters; None when not counted.")
    limit: int
    offset: int


class LeaderboardPage(Page[LeaderboardRow]):
    sweep_id: str
    metric: MetricName
    direction: Direction
    rung: int | None = Field(description="Ranked by the results at this rung, if set.")
