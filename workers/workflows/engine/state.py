"""The sweep engine's state and the reads every part of it shares.

``SweepState`` (app.domain.workflow_io) is the durable part: it is carried over continue-as-new, so
nothing that must survive a new run lives only in the attributes set here. Those are this
run's bookkeeping: what the mirror still has to write, webhook starts in flight, whether the
run is draining toward continue-as-new.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from app.domain import (
        SweepResult,
        SweepStatus,
    )
    from app.domain.sweep_events import SweepEventType
    from app.domain.workflow_io import SweepState, SweepWorkflowInput
    from app.search import ladder, rungs
    from app.temporal import contract

from workers.workflows import journal


class EngineState:
    """State of one run of a sweep workflow, built before any handler can run."""

    # SweepWorkflow forces "random"; LadderSweepWorkflow follows the request.
    forced_strategy: str | None = None

    @workflow.init
    def __init__(self, inp: SweepWorkflowInput) -> None:
        request = inp.request
        if self.forced_strategy is not None:
            request = request.model_copy(update={"strategy": self.forced_strategy})
        self._request = request
        self._plan = ladder.LadderPlan.of(request)
        # Built here, not in run, so signals and queries that arrive first find state.
        self._state = inp.carried or SweepState(started_at=workflow.now())
        self._status = SweepStatus.RUNNING
        self._error: str | None = None
        self._slots = asyncio.Semaphore(request.max_concurrency)
        # Training runs on its own queue; everything light runs where this workflow does.
        self._training_queue = inp.training_task_queue or contract.TRAINING_TASK_QUEUE
        # What changed since the results index was last written (see MirrorWrites).
        self._mirror_trials: set[int] = set(self._state.trials)
        self._mirror_sweep = True
        # When the oldest change not yet written happened: the mirror's lag is measured from it.
        self._changed_since: datetime | None = workflow.now()
        self._closing = False
        # Set once running trials stop because the sweep is cancelled: the sweep's own event
        # then covers them, not one trial.completed each.
        self._cancelling = False
        # Webhook dispatches being started; awaited before the run ends (see Notifications).
        self._webhook_retry = inp.webhook_retry or contract.DEFAULT_WEBHOOK_RETRY
        self._notifying: list[asyncio.Task[None]] = []
        self._journal_size = inp.event_journal_size or contract.EVENT_JOURNAL_SIZE
        # Set when the history has grown long in the middle of a rung: no more trials start,
        # and once the running ones end the sweep continues as new, carrying the rest.
        self._draining = False
        self._runs_started = 0
        # Set when a wave's proposal failed: trials waiting for their configs stop waiting.
        self._proposal_failed = False

    @property
    def _sweep_id(self) -> str:
        return workflow.info().workflow_id

    @property
    def _light_queue(self) -> str:
        return workflow.info().task_queue

    def _checkpoint_generation(self, index: int) -> int:
        """Checkpoint-now requests so far for one trial: sweep-wide ones plus its own."""
        state = self._state
        return state.checkpoint_generation + state.trial_checkpoint_generation.get(index, 0)

    def _emit(self, type: SweepEventType, **fields: Any) -> None:
        """Append to the journal (state only: no command, so it costs no history)."""
        journal.append(
            self._state,
            self._journal_size,
            type=type,
            at=workflow.now(),
            sweep_id=self._sweep_id,
            **fields,
        )

    def _fail(self, message: str) -> None:
        self._status = SweepStatus.FAILED
        self._error = message
        raise ApplicationError(message, type="SweepFailed", non_retryable=True)

    def _result(self) -> SweepResult:
        request, state = self._request, self._state
        status = self._status
        if status == SweepStatus.RUNNING and state.paused:
            status = SweepStatus.PAUSED
        trials = [state.trials[i] for i in sorted(state.trials)]
        ended = status not in (SweepStatus.RUNNING, SweepStatus.PAUSED)
        return SweepResult(
            sweep_id=self._sweep_id,
            name=request.name,
            status=status,
            metric=request.objective.metric,
            direction=request.objective.resolved_direction,
            current_rung=state.current_rung,
            trials=trials,
            rungs=state.rungs,
            started_at=state.started_at,
            ended_at=workflow.now() if ended else None,
            error=self._error,
            best=rungs.best_trial(trials, request.objective.resolved_direction),
        )


def index_of(trial_id: str) -> int:
    """A caller's trial id as an index; an ApplicationError (the update's answer) if it is
    not one."""
    try:
        return ladder.index_of(trial_id)
    except ValueError as err:
        raise ApplicationError(str(err)) from None
