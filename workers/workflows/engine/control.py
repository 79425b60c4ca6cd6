"""The sweep's control surface: queries, signals and updates, with their validators.

Control is by update, not signal: the caller learns that it took effect, or why not. A
validator's rejection never reaches the history, so a refused request costs nothing.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from app.domain import (
        SweepRequest,
        SweepResult,
        SweepStatus,
        TrialControl,
        TrialResult,
        TrialStatus,
    )
    from app.domain.results import FINAL_TRIAL_STATUSES
    from app.domain.sweep_events import SweepEventPage
    from app.domain.workflow_io import CheckpointSaved, ControlAck
    from app.temporal import contract

from workers.workflows import journal
from workers.workflows.engine.mirror import MirrorWrites
from workers.workflows.engine.state import index_of


class ControlSurface(MirrorWrites):
    @workflow.query(name=contract.PROGRESS_QUERY)
    def progress(self) -> SweepResult:
        return self._result()

    @workflow.query(name=contract.REQUEST_QUERY)
    def request(self) -> SweepRequest:
        return self._request

    @workflow.query(name=contract.EVENTS_QUERY)
    def events(self, after: int) -> SweepEventPage:
        return journal.page(self._state, after, contract.EVENTS_PAGE_LIMIT)

    @workflow.signal(name=contract.CHECKPOINT_SAVED_SIGNAL)
    def checkpoint_saved(self, report: CheckpointSaved) -> None:
        # A report is news, never a command: one that names no trial of this sweep, or comes
        # after its end (sweep.ended is the last event), is dropped.
        known = {t.trial_id for t in self._state.trials.values()}
        if report.trial_id not in known or journal.ended(self._state):
            return
        self._emit(
            "checkpoint.saved",
            trial_id=report.trial_id,
            rung=report.rung,
            step=report.checkpoint.step,
            checkpoint=report.checkpoint,
        )

    @workflow.query(name=contract.TRIAL_CONTROL_QUERY)
    def trial_control(self, trial_id: str) -> TrialControl:
        state = self._state
        index = index_of(trial_id)
        stop: str = "none"
        if index in state.cancelled_trials:
            stop = "cancel"
        elif state.paused:
            stop = "pause"
        return TrialControl.model_validate(
            {"stop": stop, "checkpoint_generation": self._checkpoint_generation(index)}
        )

    @workflow.update(name=contract.PAUSE_UPDATE)
    def pause(self) -> ControlAck:
        if not self._state.paused:
            self._state.paused = True
            self._emit("sweep.paused")
        self._changed()
        return self._ack("pause", self._running_trial_ids())

    @pause.validator
    def _validate_pause(self) -> None:
        self._require_active("pause")

    @workflow.update(name=contract.RESUME_UPDATE)
    def resume(self) -> ControlAck:
        if self._state.paused:
            self._state.paused = False
            self._emit("sweep.resumed")
        self._changed()
        return self._ack("resume", [self._state.trials[i].trial_id for i in self._paused_trials()])

    @resume.validator
    def _validate_resume(self) -> None:
        self._require_active("resume")

    @workflow.update(name=contract.CHECKPOINT_UPDATE)
    def checkpoint(self, trial_id: str | None = None) -> ControlAck:
        state = self._state
        if trial_id is None:
            state.checkpoint_generation += 1
            return self._ack("checkpoint", self._running_trial_ids())
        index = index_of(trial_id)
        state.trial_checkpoint_generation[index] = (
            state.trial_checkpoint_generation.get(index, 0) + 1
        )
        return self._ack("checkpoint", [trial_id])

    @checkpoint.validator
    def _validate_checkpoint(self, trial_id: str | None = None) -> None:
        self._require_active("checkpoint")
        if trial_id is not None:
            trial = self._require_trial(trial_id)
            if trial.status != TrialStatus.RUNNING:
                raise ApplicationError(
                    f"trial {trial_id} is {trial.status.value}, not running: nothing to checkpoint",
                    type=contract.CONFLICT_ERROR,
                )

    @workflow.update(name=contract.CANCEL_TRIAL_UPDATE)
    def cancel_trial(self, trial_id: str) -> ControlAck:
        index = index_of(trial_id)
        if index not in self._state.cancelled_trials:
            self._state.cancelled_trials.append(index)
        return self._ack("cancel_trial", [trial_id])

    @cancel_trial.validator
    def _validate_cancel_trial(self, trial_id: str) -> None:
        self._require_active("cancel a trial of")
        trial = self._require_trial(trial_id)
        if trial.status in FINAL_TRIAL_STATUSES:
            raise ApplicationError(
                f"trial {trial_id} has already ended ({trial.status.value})",
                type=contract.CONFLICT_ERROR,
            )

    def _require_active(self, action: str) -> None:
        if self._status not in (SweepStatus.RUNNING, SweepStatus.PAUSED):
            raise ApplicationError(
                f"cannot {action} the sweep: it has ended ({self._status.value})",
                type=contract.CONFLICT_ERROR,
            )

    def _require_trial(self, trial_id: str) -> TrialResult:
        try:
            return self._state.trials[index_of(trial_id)]
        except (KeyError, ApplicationError):
            waiting = any(trial_id in r.trial_ids for r in self._state.rungs)
            reason = "is not proposed yet (its wave waits)" if waiting else "does not exist"
            raise ApplicationError(
                f"sweep has no trial {trial_id!r}: it {reason}", type=contract.NOT_FOUND_ERROR
            ) from None

    def _running_trial_ids(self) -> list[str]:
        return [t.trial_id for t in self._state.trials.values() if t.status == TrialStatus.RUNNING]

    def _paused_trials(self) -> list[int]:
        return [i for i, t in self._state.trials.items() if t.status == TrialStatus.PAUSED]

    def _ack(self, action: str, trial_ids: list[str]) -> ControlAck:
        return ControlAck(
            sweep_id=self._sweep_id,
            action=action,
            paused=self._state.paused,
            trial_ids=sorted(trial_ids),
        )
