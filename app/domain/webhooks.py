"""Webhook payloads (the JSON bodies sent) and the contracts of the delivery workflow and
activities. Endpoints and event types: ``app.domain.webhook_targets``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.results import CheckpointInfo, SweepStatus, TrialMetrics, TrialStatus
from app.domain.space import ParamValue
from app.domain.webhook_targets import WebhookEventType

END_EVENT_OF: dict[SweepStatus, WebhookEventType] = {
    SweepStatus.COMPLETED: "sweep.completed",
    SweepStatus.FAILED: "sweep.failed",
    SweepStatus.CANCELLED: "sweep.cancelled",
}


# ---- payloads ---------------------------------------------------------------------------------


class WebhookTrial(BaseModel):
    """A trial as a webhook shows it: hyperparameters, latest metrics and checkpoint."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    trial_id: str
    status: TrialStatus
    rung: int
    params: dict[str, ParamValue]
    objective_value: float | None
    metrics: TrialMetrics | None
    checkpoint: CheckpointInfo | None
    error: str | None = None


class WebhookCounts(BaseModel):
    trials: int
    completed: int
    pruned: int
    failed: int
    cancelled: int
    rungs_done: int
    rungs_total: int


class WebhookTimings(BaseModel):
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    train_seconds: float = Field(description="Training time summed over every trial.")


class WebhookLinks(BaseModel):
    """Absolute when SWEEPS_PUBLIC_API_URL is set (filled in at delivery), else API paths."""

    sweep: str
    result: str
    leaderboard: str
    trials: str
    deliveries: str
    temporal_ui: str | None = None


class SweepEventData(BaseModel):
    """``data`` of sweep.completed / sweep.failed / sweep.cancelled."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    sweep_id: str
    name: str
    status: SweepStatus
    objective: dict[str, str] = Field(description="{metric, direction}")
    best: WebhookTrial | None
    leaderboard: list[WebhookTrial] = Field(description="The top trials, best first.")
    counts: WebhookCounts
    timings: WebhookTimings
    error: str | None = None
    links: WebhookLinks


class TrialEventData(BaseModel):
    """``data`` of trial.completed: a trial reached its final state while the sweep ran."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    sweep_id: str
    name: str
    trial: WebhookTrial
    links: WebhookLinks


class RungEventData(BaseModel):
    """``data`` of rung.completed: a rung's results are in and its survivors chosen."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    sweep_id: str
    name: str
    rung: int
    budget: float
    survivors: list[str]
    leaderboard: list[WebhookTrial] = Field(description="The rung's top trials, best first.")
    links: WebhookLinks


class WebhookEvent(BaseModel):
    """The JSON body of every webhook (Standard Webhooks' recommended envelope)."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    type: WebhookEventType
    timestamp: datetime
    data: SweepEventData | TrialEventData | RungEventData


# ---- workflow and activity contracts -----------------------------------------------------


class WebhookRetrySchedule(BaseModel):
    """Delivery retries: increasing delays until ``give_up_seconds`` have passed."""

    model_config = ConfigDict(frozen=True)

    initial_seconds: float = Field(default=10.0, gt=0)
    backoff: float = Field(default=3.0, ge=1)
    maximum_seconds: float = Field(default=8 * 3600.0, gt=0)
    give_up_seconds: float = Field(default=3 * 24 * 3600.0, gt=0)

    def delays(self) -> list[float]:
        """Seconds between attempts: every retry that starts within ``give_up_seconds``."""
        delays: list[float] = []
        delay, elapsed = self.initial_seconds, 0.0
        while elapsed + delay <= self.give_up_seconds:
            delays.append(delay)
            elapsed += delay
            delay = min(delay * self.backoff, max(self.maximum_seconds, self.initial_seconds))
        return delays

    @property
    def attempts(self) -> int:
        return 1 + len(self.delays())


class WebhookDispatchInput(BaseModel):
    """Input of WebhookDispatchWorkflow: an event to fan out to every subscribed endpoint,
    or (redelivery) deliveries that already exist."""

    sweep_id: str
    event: WebhookEvent | None = None
    event_key: str = Field(
        default="sweep",
        description="Identifies the occurrence within the sweep ('sweep', 'trial:t0003', "
        "'rung:1'): with the endpoint it makes the webhook-id, so retries never duplicate.",
    )
    delivery_ids: list[str] = Field(default_factory=list, description="Redeliver these.")
    retry: WebhookRetrySchedule = Field(default_factory=WebhookRetrySchedule)


class PrepareDeliveriesInput(BaseModel):
    sweep_id: str
    event: WebhookEvent
    event_key: str


class DeliverInput(BaseModel):
    delivery_id: str


class FinishDeliveryInput(BaseModel):
    """Mark a delivery failed: its retries ran out (the error says why)."""

    delivery_id: str
    error: str


DeliveryState = Literal["pending", "delivered", "failed"]


class DeliveryReport(BaseModel):
    """What one delivery activity call did (the attempt itself is recorded in the index)."""

    delivery_id: str
    state: DeliveryState
    status_code: int | None = None
    detail: str | None = None
