"""Running a rung's trials: each (trial, rung) run is one ``train_and_evaluate`` activity on
the training queue, at most ``max_concurrency`` at once.

The evaluation follows training in the same attempt, on the same worker, with no round trip
through the sweep in between. The activity id names the run
(``<sweep>.<trial>.r<rung>.<attempt>.run``), so a trial's work is easy to find in the Web UI.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from app.domain import FineTuneInput, TrainingParams, TrialJob, TrialStatus
    from app.domain.workflow_io import SweepWorkflowInput, TrialRunOutcome
    from app.search import ladder
    from app.temporal import activity_refs, contract

from workers.workflows.engine.proposals import Proposals
from workers.workflows.failures import root_message

_UNFINISHED = (TrialStatus.PENDING, TrialStatus.RUNNING, TrialStatus.PAUSED)


class TrialRuns(Proposals):
    async def _run_rung(self, inp: SweepWorkflowInput, rung_index: int) -> None:
        state = self._state
        entrants = ladder.entrants(state, rung_index)
        # Not yet proposed (waved) or not yet ended: still to run.
        pending = [
            i for i in entrants if i not in state.trials or state.trials[i].status in _UNFINISHED
        ]
        waves_left = ladder.unproposed(state, rung_index)
        proposing = [self._propose_waves(rung_index)] if waves_left else []
        # Tasks are created in index order; the semaphore wakes waiters in FIFO order, so
        # trials start in a deterministic order and at most max_concurrency run at once.
        # return_exceptions: when the sweep is cancelled, a trial still waiting for a slot
        # ends at once, and a plain gather would end with it while running trials are still
        # saving their checkpoints; this one ends when every trial has stopped.
        outcomes = await asyncio.gather(
            *proposing,
            *(self._run_trial(inp, index, rung_index) for index in pending),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        if self._draining:
            # The rung's summary and its unfinished trials (pending, paused) carry over; the
            # next run picks them up where this one stopped starting them.
            state.current_rung = rung_index
            workflow.continue_as_new(inp.model_copy(update={"carried": state}))

    async def _run_trial(self, inp: SweepWorkflowInput, index: int, rung_index: int) -> None:
        state = self._state
        if index not in state.configs and not await self._config_proposed(index):
            return  # its wave is proposed by the run this sweep continues as
        async with self._slots:
            attempt = 0
            while True:
                await workflow.wait_condition(
                    lambda: not state.paused or index in state.cancelled_trials or self._draining
                )
                if index in state.cancelled_trials:
                    self._update_trial(index, status=TrialStatus.CANCELLED)
                    return
                if self._draining or self._rung_history_is_long(inp):
                    self._draining = True
                    return  # the run this sweep continues as starts it
                if not await self._run_once(inp, index, rung_index, attempt):
                    return
                attempt += 1

    async def _run_once(
        self, inp: SweepWorkflowInput, index: int, rung_index: int, attempt: int
    ) -> bool:
        """One run of the trial at the rung; True when it paused and should run again."""
        trial = self._state.trials[index]
        self._runs_started += 1
        self._update_trial(index, status=TrialStatus.RUNNING)
        try:
            outcome = await self._train_and_evaluate(inp, index, rung_index, attempt)
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):  # the sweep is being cancelled
                self._cancelling = True
                self._update_trial(index, status=TrialStatus.CANCELLED)
                return False
            self._update_trial(index, status=TrialStatus.FAILED, error=root_message(err))
            workflow.logger.warning(
                "trial failed",
                extra={"sweep_id": self._sweep_id, "trial_id": trial.trial_id, "rung": rung_index},
            )
            return False
        if outcome.stopped == "paused":
            self._update_trial(index, status=TrialStatus.PAUSED, checkpoint=outcome.checkpoint)
            return True
        if outcome.stopped == "cancelled":
            self._update_trial(index, status=TrialStatus.CANCELLED, checkpoint=outcome.checkpoint)
            return False
        self._record(index, rung_index, outcome)
        return False

    async def _train_and_evaluate(
        self, inp: SweepWorkflowInput, index: int, rung_index: int, attempt: int
    ) -> TrialRunOutcome:
        trial_id = self._state.trials[index].trial_id
        return await workflow.execute_activity(
            activity_refs.train_and_evaluate,
            FineTuneInput(
                job=self._job(inp, index, rung_index),
                control_poll_seconds=contract.CONTROL_POLL_SECONDS,
                heartbeat_timeout_seconds=inp.training_heartbeat_timeout_seconds,
            ),
            activity_id=f"{self._sweep_id}.{trial_id}.r{rung_index}.{attempt}.run",
            task_queue=self._training_queue,
            start_to_close_timeout=contract.TRAIN_AND_EVALUATE_TIMEOUT,
            heartbeat_timeout=timedelta(seconds=inp.training_heartbeat_timeout_seconds),
            retry_policy=contract.TRAINING_RETRY,
            # When the sweep is cancelled, wait until training has saved a checkpoint and
            # stopped: the sweep does not end while a worker still trains for it.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )

    def _job(self, inp: SweepWorkflowInput, index: int, rung_index: int) -> TrialJob:
        request, state = self._request, self._state
        assert state.snapshot is not None
        config = state.configs[index]
        training = TrainingParams.model_validate({**request.training.model_dump(), **config.params})
        return TrialJob(
            sweep_id=self._sweep_id,
            sweep_workflow_id=self._sweep_id,
            trial=config,
            rung=rung_index,
            budget=request.ladder.rungs[rung_index].budget,
            max_budget=request.ladder.max_budget,
            unit=request.ladder.unit,
            model=request.model,
            training=training,
            snapshot=state.snapshot,
            objective=request.objective,
            artifact_root=inp.artifact_root,
            resume_from=state.trials[index].checkpoint,
            checkpoint_generation=self._checkpoint_generation(index),
        )

    def _record(self, index: int, rung_index: int, outcome: TrialRunOutcome) -> None:
        request = self._request
        budget = request.ladder.rungs[rung_index].budget
        result = outcome.rung_result(rung_index, budget, request.objective.metric)
        self._update_trial(index, **ladder.rung_done(self._state.trials[index], result))

    def _rung_history_is_long(self, inp: SweepWorkflowInput) -> bool:
        """Time to continue as new in the middle of a rung? Never before this run has started
        a trial of its own, so that every run of the sweep makes progress."""
        length = workflow.info().get_current_history_length()
        return self._runs_started > 0 and length >= inp.continue_as_new_mid_rung_after_events
