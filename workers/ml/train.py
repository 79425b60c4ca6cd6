"""Fine-tune one trial up to one rung's budget, resumably.

The Trainer is always built the same way for a trial: ``max_steps`` is the ladder's top
budget (so the learning-rate schedule spans the whole ladder), seeds and batch settings come
from the trial. A rung is then "train until step N and save", and a promotion or a crash
recovery is ``train(resume_from_checkpoint=...)`` on an identical Trainer: the result equals
an uninterrupted run (see DESIGN.md).
"""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path

import torch
from transformers import (
    DataCollatorWithPadding,
    PrinterCallback,
    Trainer,
)

from app.domain import CheckpointInfo, TrainOutcome, TrialControl, TrialJob
from app.domain.workflow_io import StopReason
from workers.ml import storage
from workers.ml.callback import TrialCallback
from workers.ml.checkpoints import (
    fetch,
    is_complete,
    latest_complete,
    read_marker,
    remove_incomplete,
    trial_location,
    trial_output_dir,
)
from workers.ml.errors import BadInputError
from workers.ml.features import quiet_progress_bars, tokenize
from workers.ml.hooks import TrainingHooks, TrainingProgress
from workers.ml.log_events import log_event, log_warning
from workers.ml.metrics import TRAIN_SAMPLES_PER_SECOND
from workers.ml.normalise import TRAIN_SPLIT
from workers.ml.publish import CheckpointPublisher
from workers.ml.snapshot import load_snapshot_splits
from workers.ml.sources import ClassifierOptions, load_classifier, load_tokenizer, resolve_model
from workers.ml.trainer_setup import StepPlan, plan_steps, training_arguments

log = logging.getLogger(__name__)


def choose_resume_point(job: TrialJob, trial_dir: str) -> CheckpointInfo | None:
    """The most advanced complete checkpoint among ``job.resume_from`` and the trial's
    directory in the artifact root.

    Every checkpoint in the trial's directory lies on the same deterministic trajectory (same
    config, seed and schedule), so the newest one is simply the most progress there is: after
    a crash it beats the rung's starting checkpoint, which may even have been pruned. Only
    durable checkpoints count: a remote root's, never a scratch copy that was not uploaded.
    """
    candidates = []
    if job.resume_from is not None:
        given = job.resume_from.path
        if not storage.is_dir(given):
            log_warning(log, "resume.missing", **_fields(job), path=given)
        elif not is_complete(given):
            raise BadInputError(f"resume_from {given!r}: checkpoint is incomplete")
        else:
            candidates.append(read_marker(given) or job.resume_from)
    found = latest_complete(trial_dir)
    if found is not None:
        candidates.append(found)
    if not candidates and job.resume_from is not None:
        raise BadInputError(f"resume_from {job.resume_from.path!r}: no such checkpoint")
    return max(candidates, key=lambda info: info.step, default=None)


def fine_tune(
    job: TrialJob, hooks: TrainingHooks | None = None, scratch: Path | None = None
) -> TrainOutcome:
    """Train ``job.trial`` to ``job.budget`` and return the last complete checkpoint.

    The Trainer saves into ``trial_output_dir``: the trial's directory in a local artifact
    root, or its copy under ``scratch`` (this worker's disk) for a remote one, from where
    each checkpoint is uploaded (``publish.py``) and a remote resume point is fetched.
    """
    hooks = hooks or TrainingHooks()
    quiet_progress_bars()
    started = time.monotonic()
    trial_dir = trial_location(job)
    output_dir = trial_output_dir(job, scratch)
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_incomplete(output_dir)
    if storage.is_remote(trial_dir):
        remove_incomplete(trial_dir)

    splits = load_snapshot_splits(job.snapshot, scratch)
    args = training_arguments(job.training, output_dir, seed=job.trial.seed)
    plan = plan_steps(job, len(splits[TRAIN_SPLIT]), args.train_batch_size)
    args.max_steps = plan.max_steps
    resume = choose_resume_point(job, trial_dir)
    initial = hooks.poll_control()
    if resume is not None and (resume.step >= plan.target_step or initial.stop != "none"):
        _clear_scratch(trial_dir, output_dir)
        return _without_training(job, resume, plan, initial, started)
    # Loading a large model can take a while: tell the caller we are alive first.
    hooks.heartbeat(
        TrainingProgress(
            step=resume.step if resume else 0,
            target_step=plan.target_step,
            max_steps=plan.max_steps,
            epoch=resume.epoch if resume else 0.0,
            checkpoint=resume,
        )
    )
    resume_dir = fetch(resume.path, scratch) if resume else None

    source = resolve_model(job.model)
    tokenizer = load_tokenizer(source)
    options = ClassifierOptions(
        label_names=tuple(job.snapshot.label_names),
        seed=job.trial.seed,
        hidden_dropout_prob=job.training.hidden_dropout_prob,
        attention_probs_dropout_prob=job.training.attention_probs_dropout_prob,
    )
    publisher = CheckpointPublisher(
        output_dir, trial_dir, job.training.keep_checkpoints, _fields(job)
    )
    callback = TrialCallback(
        output_dir=output_dir,
        publisher=publisher,
        rung=job.rung,
        target_step=plan.target_step,
        max_steps=plan.max_steps,
        hooks=hooks,
        # Requests are counted from when the sweep started this trial, not from now: one
        # made while the trial waited for a worker is still honoured.
        initial_control=initial.model_copy(
            update={"checkpoint_generation": job.checkpoint_generation}
        ),
        resumed_from=resume,
        log_fields=_fields(job),
    )
    trainer = Trainer(
        model=load_classifier(source, tokenizer, options),
        args=args,
        data_collator=DataCollatorWithPadding(tokenizer),
        train_dataset=tokenize(splits[TRAIN_SPLIT], tokenizer, job.training.max_length),
        processing_class=tokenizer,
        callbacks=[callback],
    )
    trainer.remove_callback(PrinterCallback)  # our own one-line events replace its dict dumps
    log_event(
        log,
        "fine_tune.start",
        **_fields(job),
        model=source.describe(),
        resume_step=resume.step if resume else 0,
        target_step=plan.target_step,
        max_steps=plan.max_steps,
        device=str(args.device),
    )
    try:
        outcome = _train(job, trainer, callback, resume, resume_dir)
    finally:
        publisher.close()
        # The Trainer holds reference cycles (model, optimizer, accelerator): free the GPU
        # memory now, not whenever the collector runs, so the next trial fits.
        del trainer
        _release_memory()
    _clear_scratch(trial_dir, output_dir)
    return outcome


def _clear_scratch(trial_dir: str, output_dir: Path) -> None:
    """Once the run's checkpoints are all in a remote root, drop the scratch copies: a
    worker's disk holds only running work (a failed run keeps them, for its retry here)."""
    if storage.is_remote(trial_dir):
        storage.remove(output_dir)


def _train(
    job: TrialJob,
    trainer: Trainer,
    callback: TrialCallback,
    resume: CheckpointInfo | None,
    resume_dir: Path | None,
) -> TrainOutcome:
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=str(resume_dir) if resume_dir else None)
    callback.finish(trainer.state)
    if callback.latest is None or callback.latest.step != result.global_step:
        raise RuntimeError(f"training stopped at step {result.global_step} without a checkpoint")
    seconds = time.monotonic() - started
    samples = (result.global_step - (resume.step if resume else 0)) * (
        trainer.args.train_batch_size * trainer.args.gradient_accumulation_steps
    )
    if samples > 0:
        TRAIN_SAMPLES_PER_SECOND.set(samples / max(seconds, 1e-9))
    log_event(
        log,
        "fine_tune.done",
        **_fields(job),
        step=result.global_step,
        stopped=callback.stopped,
        train_loss=result.training_loss,
        seconds=seconds,
        samples_per_second=samples / max(seconds, 1e-9),
    )
    return TrainOutcome(
        checkpoint=callback.latest.model_copy(update={"rung": job.rung}),
        global_step=result.global_step,
        train_loss=result.training_loss,
        train_seconds=seconds,
        stopped=callback.stopped,
    )


def _without_training(
    job: TrialJob, resume: CheckpointInfo, plan: StepPlan, initial: TrialControl, started: float
) -> TrainOutcome:
    """Already at (or past) the rung's step, or asked to stop before starting."""
    stopped: StopReason = "budget"
    if resume.step < plan.target_step:
        stopped = "paused" if initial.stop == "pause" else "cancelled"
    log_event(log, "fine_tune.skipped", **_fields(job), step=resume.step, stopped=stopped)
    return TrainOutcome(
        checkpoint=resume.model_copy(update={"rung": job.rung}),
        global_step=resume.step,
        train_loss=None,
        train_seconds=time.monotonic() - started,
        stopped=stopped,
    )


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _fields(job: TrialJob) -> dict[str, object]:
    return {"sweep_id": job.sweep_id, "trial_id": job.trial_id, "rung": job.rung}
