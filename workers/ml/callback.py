"""The TrainerCallback that turns one Trainer run into one rung of one trial.

It stops at the rung's step (the schedule spans the whole ladder), saves checkpoints when
asked (interval, rung end, checkpoint-now, pause, cancel), marks them complete, hands them
to the publisher (which prunes old ones and, for a remote root, uploads) and reports each
through the hooks once it is durable.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from app.domain import CheckpointInfo, TrialControl
from app.domain.results import CheckpointReason
from app.domain.workflow_io import StopReason
from workers.ml.checkpoints import checkpoint_dir, mark_complete, unmark
from workers.ml.hooks import StopRequest, TrainingHooks, TrainingProgress
from workers.ml.log_events import log_debug, log_event
from workers.ml.metrics import CHECKPOINT_SAVE_SECONDS, TRAIN_SAMPLES, TRAIN_STEPS
from workers.ml.publish import CheckpointPublisher, Published

log = logging.getLogger(__name__)
# One line per optimizer step, off by default: SWEEPS_LOG_LEVEL=INFO,workers.ml.steps=DEBUG.
step_log = logging.getLogger("workers.ml.steps")

_STOPPED: dict[StopRequest, StopReason] = {"pause": "paused", "cancel": "cancelled"}


class TrialCallback(TrainerCallback):
    def __init__(
        self,
        *,
        output_dir: Path,
        publisher: CheckpointPublisher,
        rung: int,
        target_step: int,
        max_steps: int,
        hooks: TrainingHooks,
        initial_control: TrialControl,
        resumed_from: CheckpointInfo | None,
        log_fields: dict[str, object],
    ) -> None:
        self.output_dir = output_dir
        self.publisher = publisher
        self.rung = rung
        self.target_step = target_step
        self.max_steps = max_steps
        self.hooks = hooks
        self.log_fields = log_fields
        # The newest durable checkpoint: the only kind a heartbeat or report may name.
        self.latest: CheckpointInfo | None = resumed_from
        self.stopped: StopReason = "budget"
        # Checkpoint-now requests are generations: only an increase since the start counts.
        self._generation = initial_control.checkpoint_generation
        self._stop_asked: StopRequest | None = (
            initial_control.stop if initial_control.stop != "none" else None
        )
        self._checkpoint_asked = False
        self._pending: CheckpointReason | None = None
        self._save_started: float | None = None
        now = hooks.clock()
        self._last_poll = now
        self._last_heartbeat = now

    def on_step_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> TrainerControl:
        if step_log.isEnabledFor(logging.DEBUG):  # off by default: nothing built per step
            log_debug(step_log, "train.step", **self.log_fields, step=state.global_step)
        TRAIN_STEPS.inc()
        TRAIN_SAMPLES.inc(args.train_batch_size * args.gradient_accumulation_steps)
        self._report(self.publisher.ready(), state)
        reason = self._save_reason(state.global_step, control)
        if reason is not None:
            control.should_save = True
            self._pending = reason
            self._save_started = time.perf_counter()
            # The Trainer may rewrite an existing checkpoint dir: distrust it until on_save.
            unmark(checkpoint_dir(self.output_dir, state.global_step))
        if self.hooks.clock() - self._last_heartbeat >= self.hooks.heartbeat_seconds:
            self.heartbeat(state)
        return control

    def on_save(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> TrainerControl:
        # Called by the Trainer after every file of the checkpoint is written.
        info = CheckpointInfo(
            path=str(checkpoint_dir(self.output_dir, state.global_step)),
            step=state.global_step,
            epoch=max(state.epoch or 0.0, 0.0),
            rung=self.rung,
            reason=self._pending or "interval",
        )
        mark_complete(info)
        save_seconds = time.perf_counter() - self._save_started if self._save_started else None
        if save_seconds is not None:
            CHECKPOINT_SAVE_SECONDS.observe(save_seconds)
        self._save_started = None
        self._pending = None
        self._checkpoint_asked = False
        self.publisher.publish(info, save_seconds)
        self._report(self.publisher.ready(), state)
        return control

    def finish(self, state: TrainerState) -> None:
        """After training: wait until the last checkpoint is durable, and report it."""
        self._report(self.publisher.flush(), state)

    def _report(self, published: list[Published], state: TrainerState) -> None:
        for done in published:
            info = done.checkpoint
            self.latest = info
            log_event(
                log,
                "checkpoint.saved",
                **self.log_fields,
                step=info.step,
                epoch=info.epoch,
                reason=info.reason,
                pruned=done.pruned,
                save_seconds=_rounded(done.save_seconds),
                size_mb=round(done.size_bytes / 2**20, 1),
                **(
                    {"upload_seconds": _rounded(done.upload_seconds)}
                    if self.publisher.remote
                    else {}
                ),
            )
            self.hooks.on_checkpoint(info)
        if published:
            self.heartbeat(state)

    def heartbeat(self, state: TrainerState | None = None) -> None:
        step = state.global_step if state is not None else (self.latest.step if self.latest else 0)
        epoch = (state.epoch or 0.0) if state is not None else 0.0
        self._last_heartbeat = self.hooks.clock()
        self.hooks.heartbeat(
            TrainingProgress(
                step=step,
                target_step=self.target_step,
                max_steps=self.max_steps,
                epoch=epoch,
                checkpoint=self.latest,
            )
        )

    def _save_reason(self, step: int, control: TrainerControl) -> CheckpointReason | None:
        if step >= self.target_step:
            control.should_training_stop = True
            return "rung_end"
        self._read_requests()
        if self._stop_asked is not None:
            control.should_training_stop = True
            self.stopped = _STOPPED[self._stop_asked]
            return self._stop_asked
        if self._checkpoint_asked:
            return "requested"
        # DefaultFlowCallback runs before us and sets should_save every save_steps.
        return "interval" if control.should_save else None

    def _read_requests(self) -> None:
        interrupted = self.hooks.interrupt()
        if interrupted is not None:
            self._stop_asked = interrupted
            return
        now = self.hooks.clock()
        if now - self._last_poll < self.hooks.control_poll_seconds:
            return
        self._last_poll = now
        wanted = self.hooks.poll_control()
        if wanted.checkpoint_generation > self._generation:
            self._generation = wanted.checkpoint_generation
            self._checkpoint_asked = True
        if wanted.stop != "none":
            self._stop_asked = wanted.stop


def _rounded(seconds: float | None) -> float | None:
    return round(seconds, 3) if seconds is not None else None
