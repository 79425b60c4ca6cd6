"""A sweep from start to end: snapshot the dataset once, then rung by rung run the entrants,
keep the top-k and promote them (continuing from their checkpoints), until the ladder ends.

When the history grows long the sweep continues as new: at a rung's end, or in the middle
of a rung by starting no more trials until the running ones have ended (see TrialRuns).
However the run ends (completed, failed, cancelled, continued as new) the index is flushed
first, then the journal's last event, then webhooks, so a follower that reacts to the end
reads the final state.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from app.domain import (
        DatasetSnapshot,
        SnapshotInput,
        SweepResult,
        SweepStatus,
        TrialStatus,
    )
    from app.domain.results import FINAL_TRIAL_STATUSES
    from app.domain.webhooks import END_EVENT_OF
    from app.domain.workflow_io import SweepWorkflowInput
    from app.search import ladder
    from app.temporal import activity_refs, contract

from workers.workflows import journal, webhook_events
from workers.workflows.engine.trial_runs import TrialRuns
from workers.workflows.failures import root_message


class Lifecycle(TrialRuns):
    async def _run_sweep(self, inp: SweepWorkflowInput) -> SweepResult:
        mirror = asyncio.create_task(self._mirror_loop())
        try:
            await self._webhook_subscriptions()
            await self._ladder(inp)
            self._status = SweepStatus.COMPLETED
        except asyncio.CancelledError:
            self._cancelled()
            raise
        except FailureError as err:
            if isinstance(err.cause, CancelledError):  # an activity cancelled with the sweep
                self._cancelled()
                raise asyncio.CancelledError() from err
            # A failure _fail did not name (an activity that exhausted its retries): the sweep
            # fails with it, and says so to the index and to webhooks.
            if self._status == SweepStatus.RUNNING:
                self._status = SweepStatus.FAILED
                self._error = root_message(err)
            raise
        finally:
            self._changed()
            self._closing = True
            await mirror
            if self._status != SweepStatus.RUNNING:  # not when it continues as new
                self._emit_end()
            # In a task of its own, so that it also starts in a cancelled sweep.
            end_event = END_EVENT_OF.get(self._status)
            if end_event is not None:
                event = webhook_events.sweep_event(end_event, self._result(), self._request)
                self._notify(event, "sweep")
            await self._notified()
        return self._result()

    async def _ladder(self, inp: SweepWorkflowInput) -> None:
        request, state = self._request, self._state
        if state.snapshot is None:
            state.snapshot = await self._snapshot(inp)
        for rung_index in range(state.current_rung, len(request.ladder.rungs)):
            state.current_rung = rung_index
            self._changed()
            if len(state.rungs) <= rung_index:
                await self._open_rung(rung_index)
            await self._run_rung(inp, rung_index)
            if not self._finish_rung(rung_index):
                return
            if self._history_is_long(inp):
                state.current_rung = rung_index + 1
                workflow.continue_as_new(inp.model_copy(update={"carried": state}))

    async def _snapshot(self, inp: SweepWorkflowInput) -> DatasetSnapshot:
        try:
            return await workflow.execute_activity(
                activity_refs.snapshot_dataset,
                SnapshotInput(dataset=self._request.dataset, snapshot_root=inp.snapshot_root),
                task_queue=self._training_queue,
                start_to_close_timeout=contract.SNAPSHOT_TIMEOUT,
                heartbeat_timeout=contract.SNAPSHOT_HEARTBEAT,
                retry_policy=contract.TRAINING_RETRY,
            )
        except FailureError as err:
            if isinstance(err.cause, CancelledError):  # the sweep is being cancelled
                raise
            self._fail(f"dataset snapshot failed: {root_message(err)}")
            raise  # _fail raised already; this tells mypy so

    def _finish_rung(self, rung_index: int) -> bool:
        """Mark survivors and pruned trials; False when the ladder is done."""
        state, plan = self._state, self._plan
        decision = ladder.decide_rung(state, plan, rung_index)
        if decision.nothing_finished:
            errors = [t.error for t in ladder.members(state, rung_index) if t.error]
            self._fail(f"no trial finished: {errors[0] if errors else 'every trial was cancelled'}")
        for index, status in decision.statuses.items():
            self._update_trial(index, status=status)
        ladder.close_rung(state, rung_index, decision)
        # The members again: their statuses now say who survived.
        summary, members = state.rungs[rung_index], ladder.members(state, rung_index)
        self._emit(**journal.rung_event(summary, members, plan.direction))
        if self._wants("rung.completed"):
            event = webhook_events.rung_event(self._sweep_id, self._request, summary, members)
            self._notify(event, f"rung:{rung_index}")
        return not decision.finished

    @staticmethod
    def _history_is_long(inp: SweepWorkflowInput) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= inp.continue_as_new_after_events
        )

    def _emit_end(self) -> None:
        best = self._result().best
        self._emit(
            "sweep.ended",
            status=self._status.value,
            best_trial_id=best.trial_id if best else None,
            best_value=best.objective_value if best else None,
            error=self._error,
        )

    def _cancelled(self) -> None:
        self._status = SweepStatus.CANCELLED
        for index, trial in self._state.trials.items():
            if trial.status not in FINAL_TRIAL_STATUSES:
                self._update_trial(index, status=TrialStatus.CANCELLED)
