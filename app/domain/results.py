"""What sweeps produce: checkpoints, per-rung metrics, trial and sweep results."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.request import Direction, MetricName
from app.domain.space import ParamValue

CheckpointReason = Literal["interval", "rung_end", "requested", "pause", "cancel"]


class CheckpointInfo(BaseModel):
    """A complete checkpoint on disk (or shared storage): weights, optimizer, scheduler, RNG."""

    model_config = ConfigDict(frozen=True)

    path: str
    step: int = Field(ge=0)
    epoch: float = Field(ge=0)
    rung: int = Field(ge=0)
    reason: CheckpointReason = "interval"


# A diverged run can produce NaN metrics; write them as JSON NaN (not null) so that they
# survive a round trip through Temporal payloads and rank as unusable.
_NAN_SAFE = ConfigDict(ser_json_inf_nan="constants")


class TrialMetrics(BaseModel):
    """Held-out metrics of one checkpoint."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    accuracy: float
    f1_macro: float
    eval_loss: float
    num_examples: int

    def value(self, metric: MetricName) -> float:
        return float(getattr(self, metric))


class TrialStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    RUNG_DONE = "rung_done"  # finished its rung; waiting for the rung's promotion decision
    COMPLETED = "completed"  # reached the top rung
    PRUNED = "pruned"  # finished a rung and was not promoted
    FAILED = "failed"
    CANCELLED = "cancelled"


# A trial in one of these states will not train again in this sweep.
FINAL_TRIAL_STATUSES: frozenset[TrialStatus] = frozenset(
    {TrialStatus.COMPLETED, TrialStatus.PRUNED, TrialStatus.FAILED, TrialStatus.CANCELLED}
)


class TrialConfig(BaseModel):
    """One proposed configuration: its identity, sampled params and derived training seed."""

    model_config = ConfigDict(frozen=True)

    trial_index: int = Field(ge=0)
    params: dict[str, ParamValue]
    seed: int
    born_rung: int = Field(default=0, ge=0, description="Rung at which this trial entered.")

    @property
    def trial_id(self) -> str:
        return trial_id(self.trial_index)


def trial_id(index: int) -> str:
    return f"t{index:04d}"


class RungResult(BaseModel):
    """One trial's outcome at one rung."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    rung: int
    budget: float
    global_step: int
    metrics: TrialMetrics
    objective_value: float
    checkpoint: CheckpointInfo
    train_seconds: float
    eval_seconds: float


class TrialResult(BaseModel):
    """A trial as it stands: its config, per-rung results, and where it ended."""

    model_config = _NAN_SAFE

    trial_id: str
    trial_index: int
    params: dict[str, ParamValue]
    seed: int
    status: TrialStatus
    rung: int = Field(description="Highest rung reached (trained at).")
    objective_value: float | None = None
    metrics: TrialMetrics | None = None
    checkpoint: CheckpointInfo | None = None
    rungs: list[RungResult] = Field(default_factory=list)
    train_seconds: float = 0.0
    error: str | None = None


class SweepStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RungSummary(BaseModel):
    rung: int
    budget: float
    trial_ids: list[str]
    survivors: list[str] = Field(default_factory=list)
    complete: bool = False


class SweepResult(BaseModel):
    """The end state of a sweep, and what a status query answers while it runs."""

    sweep_id: str
    name: str
    status: SweepStatus
    metric: MetricName
    direction: Direction
    current_rung: int = 0
    best: TrialResult | None = None
    trials: list[TrialResult] = Field(default_factory=list)
    rungs: list[RungSummary] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
