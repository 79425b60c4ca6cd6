"""Request and response bodies of the REST API (the domain models are reused where they fit)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.domain import (
    RungSummary,
    SweepStatus,
    TrialResult,
)
from app.domain.request import Direction, MetricName


class SweepLinks(BaseModel):
    status: str = Field(description="GET: live state of the sweep.")
    leaderboard: str = Field(description="GET: trials ranked by the objective.")
    trials: str
    temporal_ui: str = Field(description="The sweep's workflow in the Temporal Web UI.")


class SweepWebhook(BaseModel):
    """An endpoint from the request's ``webhooks``, as registered for this sweep."""

    id: str
    url: str
    events: list[str]
    secret: str | None = Field(
        description="whsec_... signing secret, shown once: null when a retried request "
        "(same Idempotency-Key) found the endpoint made before; rotate it if it was lost."
    )


class SweepCreated(BaseModel):
    sweep_id: str
    name: str
    workflow: str = Field(description="LadderSweepWorkflow or SweepWorkflow.")
    created: bool = Field(description="False when an Idempotency-Key matched an existing sweep.")
    links: SweepLinks
    webhooks: list[SweepWebhook] = Field(default_factory=list)


class TrialCounts(BaseModel):
    pending: int = 0
    running: int = 0
    paused: int = 0
    rung_done: int = Field(
        0, description="Finished the current rung; awaiting the rung's decision."
    )
    finished: int = Field(0, description="Completed, pruned, failed or cancelled.")
    total: int = 0


class SweepView(BaseModel):
    """Live state of one sweep, from its workflow."""

    sweep_id: str
    name: str
    status: SweepStatus
    paused: bool
    metric: MetricName
    direction: Direction
    current_rung: int
    rungs: list[RungSummary]
    trials: TrialCounts
    best: TrialResult | None
    started_at: datetime | None
    ended_at: datetime | None
    error: str | None
    links: SweepLinks


class CheckpointRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trial_id: str | None = Field(
        default=None,
        max_length=50,
        pattern=r"^t\d{1,9}$",
        description="Only this trial; all running trials when omitted.",
    )


class CancelAccepted(BaseModel):
    sweep_id: str
    status: str = Field(description="'cancelling': running trials checkpoint and stop.")


class ErrorBody(BaseModel):
    """Every error response: a message, and for invalid bodies the field paths."""

    detail: str
    errors: list[FieldError] = Field(default_factory=list)
    error_id: str | None = Field(
        default=None, description="Only on 500: the id under which the server logged it."
    )


class FieldError(BaseModel):
    field: str
    message: str


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


ErrorBody.model_rebuild()
