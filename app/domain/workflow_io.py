"""Inputs and outputs of workflows and activities: the contracts between orchestration and ML."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.request import (
    BudgetUnit,
    DatasetSpec,
    Direction,
    MetricName,
    ModelSpec,
    Objective,
    Strategy,
    SweepRequest,
)
from app.domain.results import (
    CheckpointInfo,
    RungResult,
    RungSummary,
    SweepResult,
    TrialConfig,
    TrialMetrics,
    TrialResult,
)
from app.domain.space import ParamValue, SweepSpace
from app.domain.sweep_events import SweepEvent
from app.domain.training_params import TrainingParams
from app.domain.webhooks import WebhookRetrySchedule


class DatasetSnapshot(BaseModel):
    """A content-addressed, immutable copy of a dataset's train and held-out splits.

    Columns are normalised to ``text``, optional ``text_pair`` and integer ``label``.
    """

    model_config = ConfigDict(frozen=True)

    snapshot_id: str
    path: str
    train_rows: int
    eval_rows: int
    label_names: list[str]
    has_text_pair: bool
    source: str

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


class SnapshotInput(BaseModel):
    dataset: DatasetSpec
    snapshot_root: str


class Observation(BaseModel):
    """A finished (trial, rung) result fed back to the sampler."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    trial_index: int
    params: dict[str, ParamValue]
    rung: int
    value: float
    # Orders observations whose values tie (lower first): the run's held-out loss.
    tie_breaker: float | None = None


class ProposeInput(BaseModel):
    """Ask the sampler for configurations for the given new trial indices."""

    space: SweepSpace
    strategy: Strategy
    direction: Direction
    sweep_seed: int
    trial_indices: list[int]
    born_rung: int = 0
    observations: list[Observation] = Field(default_factory=list)
    pending: list[dict[str, ParamValue]] = Field(
        default_factory=list, description="Configs running now, so a batch is spread out."
    )


class TrialJob(BaseModel):
    """One trial trained to one rung's budget (and evaluated)."""

    sweep_id: str
    sweep_workflow_id: str
    trial: TrialConfig
    rung: int
    budget: float
    max_budget: float = Field(description="The ladder's top budget: spans the LR schedule.")
    unit: BudgetUnit
    model: ModelSpec
    training: TrainingParams
    snapshot: DatasetSnapshot
    objective: Objective
    artifact_root: str
    resume_from: CheckpointInfo | None = None
    checkpoint_generation: int = Field(
        default=0,
        ge=0,
        description="The sweep's checkpoint-now generation for this trial when it was started: "
        "a later one is a request the trial must honour, even one made before training began.",
    )

    @property
    def trial_id(self) -> str:
        return self.trial.trial_id

    def evaluation_of(self, checkpoint: CheckpointInfo) -> EvalInput:
        """How this job's checkpoint is evaluated: on the snapshot's held-out split, batched
        and truncated as in training."""
        return EvalInput(
            checkpoint=checkpoint,
            snapshot=self.snapshot,
            batch_size=self.training.per_device_eval_batch_size,
            max_length=self.training.max_length,
        )


class FineTuneInput(BaseModel):
    job: TrialJob
    control_poll_seconds: float = Field(default=3.0, gt=0)
    heartbeat_timeout_seconds: float = Field(
        default=45.0, ge=10, description="A training worker silent this long is presumed dead."
    )


StopReason = Literal["budget", "paused", "cancelled"]


class TrainOutcome(BaseModel):
    checkpoint: CheckpointInfo
    global_step: int
    train_loss: float | None
    train_seconds: float
    stopped: StopReason = "budget"


class EvalInput(BaseModel):
    checkpoint: CheckpointInfo
    snapshot: DatasetSnapshot
    batch_size: int
    max_length: int


class EvalOutcome(BaseModel):
    metrics: TrialMetrics
    eval_seconds: float


class TrialControl(BaseModel):
    """What the sweep asks of one running trial, read by its training activity."""

    stop: Literal["none", "pause", "cancel"] = "none"
    checkpoint_generation: int = 0


class TrialRunOutcome(BaseModel):
    """What one run of a trial produced: a rung result, or where it stopped early."""

    stopped: StopReason
    checkpoint: CheckpointInfo
    global_step: int
    train_seconds: float
    metrics: TrialMetrics | None = None
    eval_seconds: float = 0.0

    @classmethod
    def stopped_early(cls, train: TrainOutcome) -> TrialRunOutcome:
        """A run paused or cancelled before its budget: where it stopped, no metrics."""
        return cls(
            stopped=train.stopped,
            checkpoint=train.checkpoint,
            global_step=train.global_step,
            train_seconds=train.train_seconds,
        )

    def rung_result(self, rung: int, budget: float, metric: MetricName) -> RungResult:
        """The run's result at ``rung``, valued by the objective's ``metric`` (evaluated runs
        only: one stopped early has no metrics)."""
        if self.metrics is None:
            raise ValueError(f"a run that stopped early ({self.stopped}) has no rung result")
        return RungResult(
            rung=rung,
            budget=budget,
            global_step=self.global_step,
            metrics=self.metrics,
            objective_value=self.metrics.value(metric),
            checkpoint=self.checkpoint,
            train_seconds=self.train_seconds,
            eval_seconds=self.eval_seconds,
        )

    @classmethod
    def evaluated(cls, train: TrainOutcome, evaluation: EvalOutcome) -> TrialRunOutcome:
        return cls(
            stopped="budget",
            checkpoint=train.checkpoint,
            global_step=train.global_step,
            train_seconds=train.train_seconds,
            metrics=evaluation.metrics,
            eval_seconds=evaluation.eval_seconds,
        )


class SweepWorkflowInput(BaseModel):
    """Input of LadderSweepWorkflow / SweepWorkflow."""

    request: SweepRequest
    artifact_root: str = Field(description="Checkpoints root, shared by all training workers.")
    snapshot_root: str = Field(description="Dataset snapshots root, shared likewise.")
    training_heartbeat_timeout_seconds: float = Field(
        default=45.0,
        ge=10,
        description="How soon a dead training worker is noticed and its trial retried elsewhere.",
    )
    continue_as_new_after_events: int = Field(
        default=8000,
        ge=1,
        description="At a rung boundary past this many history events the sweep continues "
        "as new, carrying its state, far below Temporal's history limits.",
    )
    continue_as_new_mid_rung_after_events: int = Field(
        default=20000,
        ge=1,
        description="Past this many history events in the middle of a rung, the sweep starts "
        "no more trials and continues as new once the running ones end: a rung of thousands "
        "of trials stays far below Temporal's limit of 51,200 events.",
    )
    carried: SweepState | None = Field(
        default=None, description="State carried over a continue-as-new; None on a fresh start."
    )
    webhook_retry: WebhookRetrySchedule | None = Field(
        default=None, description="Webhook delivery retries; None: the contract's default."
    )
    event_journal_size: int | None = Field(
        default=None, ge=1, description="Events the journal keeps; None: the contract's default."
    )
    training_task_queue: str | None = Field(
        default=None,
        min_length=1,
        description="Where trials train; None: the contract's training queue. The sweep's light "
        "activities run on the queue the sweep itself runs on.",
    )


class SweepState(BaseModel):
    """Everything a sweep workflow knows; small enough to carry over continue-as-new."""

    started_at: datetime
    snapshot: DatasetSnapshot | None = None
    configs: dict[int, TrialConfig] = Field(default_factory=dict)
    trials: dict[int, TrialResult] = Field(default_factory=dict)
    rungs: list[RungSummary] = Field(default_factory=list)
    current_rung: int = 0
    next_trial_index: int = 0
    paused: bool = False
    checkpoint_generation: int = 0
    trial_checkpoint_generation: dict[int, int] = Field(default_factory=dict)
    cancelled_trials: list[int] = Field(default_factory=list)
    webhook_progress_events: list[str] | None = Field(
        default=None,
        description="trial.completed / rung.completed if some endpoint wants them; "
        "None until looked up (once per sweep, carried over continue-as-new).",
    )
    events: list[SweepEvent] = Field(
        default_factory=list, description="The journal's newest events, oldest first."
    )
    next_event_id: int = Field(default=1, ge=1, description="The id the next event gets.")


SweepWorkflowInput.model_rebuild()


class CheckpointSaved(BaseModel):
    """A training activity's report to its sweep: a complete checkpoint was saved."""

    trial_id: str
    rung: int = Field(ge=0)
    checkpoint: CheckpointInfo


class ControlAck(BaseModel):
    """The answer to a control update: it took effect, on these trials."""

    sweep_id: str
    action: str
    paused: bool
    trial_ids: list[str] = Field(
        default_factory=list, description="Trials the action applies to (running, for pause)."
    )


class MirrorInput(BaseModel):
    """What the sweep asks the results index to record: its state and the trials that changed
    since the last mirror (all of them would grow with the sweep; payloads must stay small)."""

    result: SweepResult = Field(description="The sweep's state; ``trials`` holds changed ones.")
    request: SweepRequest
    result_count: int = Field(ge=0, description="Rung results in the whole sweep so far.")
    changed_since: datetime | None = Field(
        default=None,
        description="Workflow time of the oldest change this write carries (mirror lag).",
    )
