"""The ladder (successive halving) sweep engine shared by LadderSweepWorkflow and SweepWorkflow.

Flow: snapshot the dataset once; propose the first rung's configurations; run every trial of a
rung (at most ``max_concurrency`` at once) as a fine-tune then an evaluate activity (see
trial_run); keep the top-k and promote them, continuing from their checkpoints, plus any fresh
proposals; repeat. When the history grows long the sweep continues as new: at a rung's end,
or in the middle of a rung by starting no more trials until the running ones have ended.

Proposals never depend on whichever trials happened to finish first, so a sweep's
configurations depend only on its seed and results, not on timing: pausing, resuming or
restarting workers changes nothing. ``random`` proposes a rung's fresh trials at its boundary.
``tpe`` proposes them in waves of ``max_concurrency`` entrants (``app.search.waves``): wave k
is proposed once every entrant of waves <= k-2 has ended its run at the rung, and sees those
results plus all lower rungs, with wave k-1's fresh trials as pending. Until its wave is
proposed a trial is only an id in its rung's summary: it has no config and no TrialResult.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
)

with workflow.unsafe.imports_passed_through():
    from app.domain import (
        DatasetSnapshot,
        Observation,
        ProposeInput,
        RungResult,
        RungSummary,
        SnapshotInput,
        SweepRequest,
        SweepResult,
        SweepStatus,
        TrainingParams,
        TrialConfig,
        TrialControl,
        TrialJob,
        TrialResult,
        TrialStatus,
    )
    from app.domain.events import SweepEventPage, SweepEventType
    from app.domain.jobs import (
        CheckpointSaved,
        ControlAck,
        MirrorInput,
        SweepState,
        SweepWorkflowInput,
        TrialRunInput,
        TrialRunOutcome,
    )
    from app.domain.results import FINAL_TRIAL_STATUSES
    from app.domain.results import trial_id as id_of_trial
    from app.domain.webhooks import END_EVENT_OF, WebhookEvent
    from app.search import rungs, waves
    from app.temporal import contract

from workers.workflows import journal, webhook_events
from workers.workflows.trial_run import train_and_evaluate


class SweepEngine:
    """Base class of the sweep workflows: state, control handlers and the ladder loop."""

    # SweepWorkflow forces "random"; LadderSweepWorkflow follows the request.
    forced_strategy: str | None = None

    @workflow.init
    def __init__(self, inp: SweepWorkflowInput) -> None:
        request = inp.request
        if self.forced_strategy is not None:
            request = request.model_copy(update={"strategy": self.forced_strategy})
        self._request = request
        # Built here, not in run, so signals and queries that arrive first find state.
        self._state = inp.carried or SweepState(started_at=workflow.now())
        self._status = SweepStatus.RUNNING
        self._error: str | None = None
        self._slots = asyncio.Semaphore(request.max_concurrency)
        # What changed since the results index was last written (see _mirror_loop).
        self._mirror_trials: set[int] = set(self._state.trials)
        self._mirror_sweep = True
        # When the oldest change not yet written happened: the mirror's lag is measured from it.
        self._changed_since: datetime | None = workflow.now()
        self._closing = False
        # Set once running trials stop because the sweep is cancelled: the sweep's own event
        # then covers them, not one trial.completed each.
        self._cancelling = False
        # Webhook dispatches being started; awaited before the run ends (see _notify).
        self._webhook_retry = inp.webhook_retry or contract.DEFAULT_WEBHOOK_RETRY
        self._notifying: list[asyncio.Task[None]] = []
        self._journal_size = inp.event_journal_size or contract.EVENT_JOURNAL_SIZE
        # Set when the history has grown long in the middle of a rung: no more trials start,
        # and once the running ones end the sweep continues as new, carrying the rest.
        self._draining = False
        self._runs_started = 0
        # Set when a wave's proposal failed: trials waiting for their configs stop waiting.
        self._proposal_failed = False

    # ---- queries and signals -------------------------------------------------------------

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
        index = _index_of(trial_id)
        stop: str = "none"
        if index in state.cancelled_trials:
            stop = "cancel"
        elif state.paused:
            stop = "pause"
        return TrialControl.model_validate(
            {"stop": stop, "checkpoint_generation": self._checkpoint_generation(index)}
        )

    def _checkpoint_generation(self, index: int) -> int:
        """Checkpoint-now requests so far for one trial: sweep-wide ones plus its own."""
        state = self._state
        return state.checkpoint_generation + state.trial_checkpoint_generation.get(index, 0)

    # Control is by update, not signal: the caller learns that it took effect, or why not.

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
        index = _index_of(trial_id)
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
        index = _index_of(trial_id)
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
            return self._state.trials[_index_of(trial_id)]
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
            sweep_id=workflow.info().workflow_id,
            action=action,
            paused=self._state.paused,
            trial_ids=sorted(trial_ids),
        )

    # ---- the ladder ------------------------------------------------------------------------

    async def _run_sweep(self, inp: SweepWorkflowInput) -> SweepResult:
        mirror = asyncio.create_task(self._mirror_loop())
        try:
            # Sweeps started before webhooks existed replay without these commands.
            if workflow.patched(contract.WEBHOOKS_PATCH):
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
                self._error = _root_message(err)
            raise
        finally:
            # Flush the index before the run ends (completed, failed, cancelled, or continued
            # as new), so that it holds the final state.
            self._changed()
            self._closing = True
            await mirror
            # Then the journal's last event: a follower that reads the leaderboard when it
            # sees the end finds the final state there.
            if self._status != SweepStatus.RUNNING:  # not when it continues as new
                self._emit_end()
            # Then tell webhooks: a receiver that reads the leaderboard sees the final state.
            # In a task of its own, so that it also starts in a cancelled sweep.
            end_event = END_EVENT_OF.get(self._status)
            if end_event is not None and workflow.patched(contract.WEBHOOKS_PATCH):
                event = webhook_events.sweep_event(end_event, self._result(), self._request)
                self._notify(event, "sweep")
            for task in self._notifying:
                await task
        return self._result()

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

    # ---- webhooks ---------------------------------------------------------------------------

    async def _webhook_subscriptions(self) -> None:
        """Once per sweep: does any endpoint want trial.completed / rung.completed? (The
        sweep's end is always dispatched; the dispatch finds who wants it.)"""
        state = self._state
        if state.webhook_progress_events is not None:
            return
        try:
            state.webhook_progress_events = await workflow.execute_activity(
                contract.WEBHOOK_SUBSCRIPTIONS,
                workflow.info().workflow_id,
                result_type=list[str],
                task_queue=contract.ORCHESTRATION_TASK_QUEUE,
                start_to_close_timeout=contract.WEBHOOK_BOOKKEEPING_TIMEOUT,
                schedule_to_close_timeout=contract.WEBHOOK_SUBSCRIPTIONS_GIVE_UP,
                retry_policy=contract.MIRROR_RETRY,
            )
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):  # the sweep is being cancelled
                raise
            # Progress events are a nicety: the sweep goes on without them.
            workflow.logger.warning(
                "webhook subscriptions unknown: %s",
                _root_message(err),
                extra={"sweep_id": workflow.info().workflow_id},
            )
            state.webhook_progress_events = []

    def _wants(self, event_type: str) -> bool:
        return event_type in (self._state.webhook_progress_events or ())

    def _notify(self, event: WebhookEvent, event_key: str) -> None:
        """Start the event's delivery without waiting for it (see webhook_events)."""
        self._notifying.append(
            asyncio.create_task(
                webhook_events.start_dispatch(
                    workflow.info().workflow_id, event, event_key, self._webhook_retry
                )
            )
        )

    async def _ladder(self, inp: SweepWorkflowInput) -> None:
        request, state = self._request, self._state
        if state.snapshot is None:
            state.snapshot = await self._snapshot(inp)
        for rung_index in range(state.current_rung, len(request.ladder.rungs)):
            state.current_rung = rung_index
            self._changed()
            if len(state.rungs) <= rung_index:
                entrants = await self._entrants(rung_index)
                state.rungs.append(
                    RungSummary(
                        rung=rung_index,
                        budget=request.ladder.rungs[rung_index].budget,
                        trial_ids=[id_of_trial(i) for i in entrants],
                    )
                )
            await self._run_rung(inp, rung_index)
            if not self._finish_rung(rung_index):
                return
            if self._history_is_long(inp):
                state.current_rung = rung_index + 1
                workflow.continue_as_new(inp.model_copy(update={"carried": state}))

    async def _mirror_loop(self) -> None:
        """Write changes to the results index, one activity at a time, batching whatever
        changed meanwhile (a busy sweep's writes at most about one per MIRROR_COALESCE);
        returns once the sweep is closing and everything is written."""
        while True:
            await workflow.wait_condition(
                lambda: bool(self._mirror_trials) or self._mirror_sweep or self._closing
            )
            if not self._mirror_trials and not self._mirror_sweep:
                return
            batch = sorted(self._mirror_trials)
            since, self._changed_since = self._changed_since, None
            self._mirror_trials.clear()
            self._mirror_sweep = False
            await self._mirror(batch, since)
            busy = bool(self._mirror_trials) or self._mirror_sweep
            if busy and not self._closing and workflow.patched(contract.COALESCED_MIRROR_PATCH):
                # Gather what else changes for a moment (the sweep closing ends the wait).
                with contextlib.suppress(asyncio.TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._closing, timeout=contract.MIRROR_COALESCE
                    )

    def _changed(self, trial_index: int | None = None) -> None:
        """Mark the sweep row (or one trial) for the next mirror write."""
        if trial_index is None:
            self._mirror_sweep = True
        else:
            self._mirror_trials.add(trial_index)
        if self._changed_since is None:
            self._changed_since = workflow.now()

    async def _mirror(self, trial_indices: list[int], changed_since: datetime | None) -> None:
        state = self._state
        result = self._result()
        changed = [state.trials[i] for i in trial_indices]
        try:
            await workflow.execute_activity(
                contract.MIRROR_RESULTS,
                MirrorInput(
                    result=result.model_copy(update={"trials": changed}),
                    request=self._request,
                    result_count=sum(len(t.rungs) for t in state.trials.values()),
                    changed_since=changed_since,
                ),
                task_queue=contract.ORCHESTRATION_TASK_QUEUE,
                start_to_close_timeout=contract.MIRROR_TIMEOUT,
                schedule_to_close_timeout=contract.MIRROR_GIVE_UP,
                retry_policy=contract.MIRROR_RETRY,
            )
        except ActivityError as err:
            # The index is a mirror: a lost write must not stop the sweep (reindex repairs it).
            workflow.logger.warning(
                "results index not updated: %s",
                _root_message(err),
                extra={"sweep_id": workflow.info().workflow_id},
            )

    @staticmethod
    def _history_is_long(inp: SweepWorkflowInput) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= inp.continue_as_new_after_events
        )

    def _rung_history_is_long(self, inp: SweepWorkflowInput) -> bool:
        """Time to continue as new in the middle of a rung? Never before this run has started
        a trial of its own, so that every run of the sweep makes progress."""
        length = workflow.info().get_current_history_length()
        return self._runs_started > 0 and length >= inp.continue_as_new_mid_rung_after_events

    async def _snapshot(self, inp: SweepWorkflowInput) -> DatasetSnapshot:
        try:
            snapshot: DatasetSnapshot = await workflow.execute_activity(
                contract.SNAPSHOT_DATASET,
                SnapshotInput(dataset=self._request.dataset, snapshot_root=inp.snapshot_root),
                result_type=DatasetSnapshot,
                task_queue=contract.TRAINING_TASK_QUEUE,
                start_to_close_timeout=contract.SNAPSHOT_TIMEOUT,
                heartbeat_timeout=contract.SNAPSHOT_HEARTBEAT,
                retry_policy=contract.TRAINING_RETRY,
            )
        except FailureError as err:
            if isinstance(err.cause, CancelledError):  # the sweep is being cancelled
                raise
            self._fail(f"dataset snapshot failed: {_root_message(err)}")
        return snapshot

    async def _entrants(self, rung_index: int) -> list[int]:
        """Trial indices that train at this rung: survivors of the last rung plus new ones."""
        request, state = self._request, self._state
        ladder = request.ladder
        if rung_index == 0:
            promoted: list[int] = []
            fresh = ladder.trials
        else:
            previous = state.rungs[rung_index - 1]
            promoted = [_index_of(t) for t in previous.survivors]
            fresh = ladder.rungs[rung_index].new_trials
        new_indices = list(range(state.next_trial_index, state.next_trial_index + fresh))
        # Waved: _run_rung proposes them wave by wave (_propose_waves).
        if new_indices and not self._proposes_in_waves():
            await self._propose(new_indices, rung_index, self._observations(), [])
        state.next_trial_index += fresh
        for index in promoted:
            self._update_trial(index, status=TrialStatus.PENDING, rung=rung_index)
        return promoted + new_indices

    def _proposes_in_waves(self) -> bool:
        # random draws ignore observations: one proposal per rung gives the same trials.
        return self._request.strategy == "tpe" and workflow.patched(contract.WAVED_PROPOSALS_PATCH)

    async def _propose(
        self,
        indices: list[int],
        rung_index: int,
        observations: list[Observation],
        pending: list[dict[str, Any]],
    ) -> None:
        """Configs for new trials: each becomes a PENDING trial of this rung."""
        request, state = self._request, self._state
        proposals: list[TrialConfig] = await workflow.execute_activity(
            contract.PROPOSE_CONFIGS,
            ProposeInput(
                space=request.space,
                strategy=request.strategy,
                direction=request.objective.resolved_direction,
                sweep_seed=request.seed,
                trial_indices=indices,
                born_rung=rung_index,
                observations=observations,
                pending=pending,
            ),
            result_type=list[TrialConfig],
            task_queue=contract.ORCHESTRATION_TASK_QUEUE,
            start_to_close_timeout=contract.PROPOSE_TIMEOUT,
            retry_policy=contract.LIGHT_RETRY,
        )
        for config in proposals:
            state.configs[config.trial_index] = config
            state.trials[config.trial_index] = TrialResult(
                trial_id=config.trial_id,
                trial_index=config.trial_index,
                params=config.params,
                seed=config.seed,
                status=TrialStatus.PENDING,
                rung=rung_index,
            )
            self._changed(config.trial_index)

    async def _propose_waves(self, rung_index: int) -> None:
        """Propose the rung's waves that have no configs yet, each when it may be (see
        _wave_ready); stops when the sweep drains for continue-as-new."""
        try:
            entrants = self._rung_indices(rung_index)
            fresh = self._born_at(rung_index, entrants)
            width = self._request.max_concurrency
            for wave in waves.waves_to_propose(entrants, width, fresh):
                members = waves.fresh_members(entrants, width, wave, fresh)
                proposed = all(i in self._state.configs for i in members)
                if not proposed and not await self._propose_wave(rung_index, entrants, wave, fresh):
                    return
        except Exception:
            self._proposal_failed = True
            raise

    async def _propose_wave(
        self, rung_index: int, entrants: list[int], wave: int, fresh: set[int]
    ) -> bool:
        """One wave's proposal; False when the sweep drains before it may be made."""
        state, width = self._state, self._request.max_concurrency
        await workflow.wait_condition(
            lambda: self._draining or self._wave_ready(entrants, wave, fresh)
        )
        if self._draining:
            return False
        observations = waves.wave_observations(
            self._observations(), rung_index, entrants, width, wave
        )
        pending = waves.pending_members(entrants, width, wave, fresh)
        members = waves.fresh_members(entrants, width, wave, fresh)
        await self._propose(
            members, rung_index, observations, [state.configs[i].params for i in pending]
        )
        return True

    def _wave_ready(self, entrants: list[int], wave: int, fresh: set[int]) -> bool:
        """Every entrant the wave sees has ended its run here, and its pending ones exist."""
        state, width = self._state, self._request.max_concurrency
        seen = waves.seen_entrants(entrants, width, wave)
        pending = waves.pending_members(entrants, width, wave, fresh)
        return all(
            i in state.trials and state.trials[i].status in _ENDED_AT_RUNG for i in seen
        ) and all(i in state.configs for i in pending)

    def _born_at(self, rung_index: int, entrants: list[int]) -> set[int]:
        """The rung's fresh entrants: not proposed yet, or proposed for this rung."""
        configs = self._state.configs
        return {i for i in entrants if i not in configs or configs[i].born_rung == rung_index}

    def _rung_indices(self, rung_index: int) -> list[int]:
        return [_index_of(t) for t in self._state.rungs[rung_index].trial_ids]

    def _observations(self) -> list[Observation]:
        state = self._state
        return [
            Observation(
                trial_index=trial.trial_index,
                params=trial.params,
                rung=result.rung,
                value=result.objective_value,
                tie_breaker=rungs.tie_breaker(result.metrics),
            )
            for trial in state.trials.values()
            for result in trial.rungs
        ]

    async def _run_rung(self, inp: SweepWorkflowInput, rung_index: int) -> None:
        state = self._state
        entrants = self._rung_indices(rung_index)
        # Not yet proposed (waved) or not yet ended: still to run.
        pending = [
            i
            for i in entrants
            if i not in state.trials
            or state.trials[i].status
            in (TrialStatus.PENDING, TrialStatus.RUNNING, TrialStatus.PAUSED)
        ]
        # Only when some wave is still to be proposed, so older histories replay unchanged.
        proposing = (
            [self._propose_waves(rung_index)]
            if any(i not in state.configs for i in entrants)
            else []
        )
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
        request, state = self._request, self._state
        assert state.snapshot is not None
        if index not in state.configs and not await self._config_proposed(index):
            return  # its wave is proposed by the run this sweep continues as
        async with self._slots:
            attempt = 0
            while True:
                await workflow.wait_condition(
                    lambda: not state.paused or index in state.cancelled_trials or self._draining
                )
                trial = state.trials[index]
                if index in state.cancelled_trials:
                    self._update_trial(index, status=TrialStatus.CANCELLED)
                    return
                flat = workflow.patched(contract.FLAT_TRIALS_PATCH)
                if self._draining or (flat and self._rung_history_is_long(inp)):
                    self._draining = True
                    return  # the run this sweep continues as starts it
                self._runs_started += 1
                self._update_trial(index, status=TrialStatus.RUNNING)
                job = self._job(inp, index, rung_index, state.snapshot, request)
                run_id = f"{workflow.info().workflow_id}.{trial.trial_id}.r{rung_index}.{attempt}"
                run = TrialRunInput(
                    job=job,
                    run_key=run_id,
                    heartbeat_timeout_seconds=inp.training_heartbeat_timeout_seconds,
                )
                try:
                    outcome = await self._train_and_evaluate(run, flat)
                except (ActivityError, ChildWorkflowError) as err:
                    if isinstance(err.cause, CancelledError):  # the sweep is being cancelled
                        self._cancelling = True
                        self._update_trial(index, status=TrialStatus.CANCELLED)
                        return
                    self._update_trial(index, status=TrialStatus.FAILED, error=_root_message(err))
                    workflow.logger.warning(
                        "trial failed",
                        extra={
                            "sweep_id": workflow.info().workflow_id,
                            "trial_id": trial.trial_id,
                            "rung": rung_index,
                        },
                    )
                    return
                if outcome.stopped == "paused":
                    self._update_trial(
                        index, status=TrialStatus.PAUSED, checkpoint=outcome.checkpoint
                    )
                    attempt += 1
                    continue
                if outcome.stopped == "cancelled":
                    self._update_trial(
                        index, status=TrialStatus.CANCELLED, checkpoint=outcome.checkpoint
                    )
                    return
                self._record(index, rung_index, outcome)
                return

    async def _config_proposed(self, index: int) -> bool:
        """Wait, without a slot, for the trial's wave to be proposed; False if it will not be
        in this run (draining, or a proposal failed: _propose_waves raises that)."""
        await workflow.wait_condition(
            lambda: index in self._state.configs or self._draining or self._proposal_failed
        )
        return index in self._state.configs

    @staticmethod
    async def _train_and_evaluate(run: TrialRunInput, flat: bool) -> TrialRunOutcome:
        if flat:
            return await train_and_evaluate(run)
        # Sweeps started before FLAT_TRIALS_PATCH: one CoordinatorWorkflow child per run.
        outcome: TrialRunOutcome = await workflow.execute_child_workflow(
            contract.COORDINATOR_WORKFLOW,
            run,
            id=run.run_key,
            result_type=TrialRunOutcome,
            task_queue=contract.ORCHESTRATION_TASK_QUEUE,
        )
        return outcome

    def _job(
        self,
        inp: SweepWorkflowInput,
        index: int,
        rung_index: int,
        snapshot: DatasetSnapshot,
        request: SweepRequest,
    ) -> TrialJob:
        config = self._state.configs[index]
        trial = self._state.trials[index]
        training = TrainingParams.model_validate({**request.training.model_dump(), **config.params})
        return TrialJob(
            sweep_id=workflow.info().workflow_id,
            sweep_workflow_id=workflow.info().workflow_id,
            trial=config,
            rung=rung_index,
            budget=request.ladder.rungs[rung_index].budget,
            max_budget=request.ladder.max_budget,
            unit=request.ladder.unit,
            model=request.model,
            training=training,
            snapshot=snapshot,
            objective=request.objective,
            artifact_root=inp.artifact_root,
            resume_from=trial.checkpoint,
            checkpoint_generation=self._checkpoint_generation(index),
        )

    def _record(self, index: int, rung_index: int, outcome: TrialRunOutcome) -> None:
        request = self._request
        assert outcome.metrics is not None
        value = outcome.metrics.value(request.objective.metric)
        trial = self._state.trials[index]
        result = RungResult(
            rung=rung_index,
            budget=request.ladder.rungs[rung_index].budget,
            global_step=outcome.global_step,
            metrics=outcome.metrics,
            objective_value=value,
            checkpoint=outcome.checkpoint,
            train_seconds=outcome.train_seconds,
            eval_seconds=outcome.eval_seconds,
        )
        self._update_trial(
            index,
            status=TrialStatus.RUNG_DONE,
            rung=rung_index,
            objective_value=value,
            metrics=outcome.metrics,
            checkpoint=outcome.checkpoint,
            rungs=[*trial.rungs, result],
            train_seconds=trial.train_seconds + outcome.train_seconds,
        )

    def _finish_rung(self, rung_index: int) -> bool:
        """Mark survivors and pruned trials; False when the ladder is done."""
        request, state = self._request, self._state
        ladder = request.ladder
        summary = state.rungs[rung_index]
        members = self._rung_members(rung_index)
        finished = [t for t in members if t.status == TrialStatus.RUNG_DONE]
        if not finished and not any(t.rungs for t in state.trials.values()):
            errors = [t.error for t in members if t.error]
            self._fail(f"no trial finished: {errors[0] if errors else 'every trial was cancelled'}")
        survivors = rungs.select_survivors(
            ladder,
            rung_index,
            members,
            request.objective.resolved_direction,
            by_loss=workflow.patched(contract.LOSS_TIE_BREAK_PATCH),
        )
        survivor_ids = {t.trial_id for t in survivors}
        last = rung_index == len(ladder.rungs) - 1
        for trial in finished:
            if trial.trial_id in survivor_ids:
                status = TrialStatus.PENDING
            else:
                status = TrialStatus.COMPLETED if last else TrialStatus.PRUNED
            self._update_trial(trial.trial_index, status=status)
        state.rungs[rung_index] = summary.model_copy(
            update={"survivors": [t.trial_id for t in survivors], "complete": True}
        )
        # The members again: their statuses now say who survived.
        members = self._rung_members(rung_index)
        self._emit(**journal.rung_event(summary, members, request.objective.resolved_direction))
        if self._wants("rung.completed"):
            event = webhook_events.rung_event(
                workflow.info().workflow_id, self._request, state.rungs[rung_index], members
            )
            self._notify(event, f"rung:{rung_index}")
        return not rungs.sweep_finished(ladder, rung_index, len(survivors))

    # ---- helpers ---------------------------------------------------------------------------

    def _rung_members(self, rung_index: int) -> list[TrialResult]:
        """The rung's proposed trials (a rung ends with all of its waves proposed)."""
        trials = self._state.trials
        return [trials[i] for i in self._rung_indices(rung_index) if i in trials]

    def _update_trial(self, index: int, **changes: object) -> None:
        state = self._state
        before = state.trials[index]
        after = state.trials[index] = before.model_copy(update=changes)
        self._changed(index)
        entry = journal.trial_event(before, after, self._request.ladder)
        if entry is not None:
            self._emit(**entry)
        if (
            after.status in FINAL_TRIAL_STATUSES
            and before.status not in FINAL_TRIAL_STATUSES
            and self._status == SweepStatus.RUNNING  # the sweep's own event covers its end
            and not self._cancelling
            and self._wants("trial.completed")
        ):
            event = webhook_events.trial_event(workflow.info().workflow_id, self._request, after)
            self._notify(event, f"trial:{after.trial_id}")

    def _emit(self, type: SweepEventType, **fields: Any) -> None:
        """Append to the journal (state only: no command, so histories replay unchanged)."""
        journal.append(
            self._state,
            self._journal_size,
            type=type,
            at=workflow.now(),
            sweep_id=workflow.info().workflow_id,
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
        result = SweepResult(
            sweep_id=workflow.info().workflow_id,
            name=request.name,
            status=status,
            metric=request.objective.metric,
            direction=request.objective.resolved_direction,
            current_rung=state.current_rung,
            trials=trials,
            rungs=state.rungs,
            started_at=state.started_at,
            ended_at=workflow.now()
            if status != SweepStatus.RUNNING and status != SweepStatus.PAUSED
            else None,
            error=self._error,
        )
        best = rungs.best_trial(trials, request.objective.resolved_direction)
        return result.model_copy(update={"best": best})


# A run at a rung has ended (a later wave's proposal may count on its result, or its absence).
_ENDED_AT_RUNG = frozenset({TrialStatus.RUNG_DONE, TrialStatus.FAILED, TrialStatus.CANCELLED})


def _index_of(trial_id: str) -> int:
    try:
        return int(trial_id.lstrip("t"))
    except ValueError:
        raise ApplicationError(f"unknown trial id {trial_id!r}") from None


def _root_message(err: BaseException) -> str:
    """The innermost cause's message: the activity's own words, not the wrappers'."""
    while isinstance(err, FailureError) and err.cause is not None:
        err = err.cause
    return str(err.message if isinstance(err, FailureError) else err)
