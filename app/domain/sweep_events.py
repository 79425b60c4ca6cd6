"""A sweep's event journal: what happened, in order, for live followers (the SSE stream, the
CLI's ``--wait``, the Python client's ``wait``).

The sweep workflow appends an event at each transition, so the journal is part of the
workflow's durable state and ids are the same on every replay: a follower that lost its
connection resumes with ``Last-Event-ID`` and misses nothing that is still retained.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.results import CheckpointInfo, TrialMetrics
from app.domain.space import ParamValue

SweepEventType = Literal[
    "trial.started",
    "checkpoint.saved",
    "trial.paused",
    "trial.finished",
    "rung.completed",
    "sweep.paused",
    "sweep.resumed",
    "sweep.ended",
    "events.skipped",
]

SWEEP_EVENT_TYPES: tuple[SweepEventType, ...] = SweepEventType.__args__  # type: ignore[attr-defined]


class SweepEvent(BaseModel):
    """One entry of the journal. Which optional fields are set depends on ``type``:

    - ``trial.started``: trial_id, rung, budget, params; step = the step it resumes from.
    - ``checkpoint.saved``: trial_id, rung, step, checkpoint (its reason: interval, rung_end,
      requested, pause or cancel).
    - ``trial.paused``: trial_id, rung, checkpoint it will resume from.
    - ``trial.finished``: a (trial, rung) run ended; status ``rung_done`` (with metrics and
      objective_value), ``failed`` (with error) or ``cancelled``.
    - ``rung.completed``: rung, budget, survivors (promoted to the next rung, or the final
      winners), pruned, best_trial_id and best_value.
    - ``sweep.paused`` / ``sweep.resumed``: no extra fields.
    - ``sweep.ended``: status (completed, failed, cancelled), best_trial_id, best_value,
      error. Always the last event.
    - ``events.skipped``: only on the stream, never in the journal: ``skipped`` events older
      than the journal keeps were asked for and cannot be sent.
    """

    model_config = ConfigDict(ser_json_inf_nan="constants")

    id: int = Field(ge=0, description="Increases by one per event within the sweep.")
    type: SweepEventType
    at: datetime
    sweep_id: str
    trial_id: str | None = None
    rung: int | None = None
    budget: float | None = None
    status: str | None = None
    step: int | None = None
    params: dict[str, ParamValue] | None = None
    checkpoint: CheckpointInfo | None = None
    metrics: TrialMetrics | None = None
    objective_value: float | None = None
    survivors: list[str] | None = None
    pruned: list[str] | None = None
    best_trial_id: str | None = None
    best_value: float | None = None
    error: str | None = None
    skipped: int | None = None


class SweepEventPage(BaseModel):
    """The answer to the workflow's events query: events after a given id, oldest first."""

    events: list[SweepEvent]
    first_id: int = Field(description="Oldest id still retained (1 when nothing was dropped).")
    next_id: int = Field(description="The id the next event will get.")
    ended: bool = Field(description="The sweep has ended: no event will follow the last one.")
