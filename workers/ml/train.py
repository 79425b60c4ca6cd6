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
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    DataCollatorWithPadding,
    PrinterCallback,
    Trainer,
    TrainingArguments,
)

from app.domain import CheckpointInfo, TrainOutcome, TrialJob
from app.domain.request import BudgetUnit
from app.domain.training import TrainingParams
from workers.ml.callback import TrialCallback
from workers.ml.checkpoints import (
    is_complete,
    latest_complete,
    read_marker,
    remove_incomplete,
    trial_output_dir,
)
from workers.ml.errors import BadInputError
from workers.ml.events import log_event
from workers.ml.features import quiet_progress_bars, tokenize
from workers.ml.hooks import TrainingHooks
from workers.ml.snapshot import TRAIN_SPLIT, load_snapshot_splits
from workers.ml.sources import ClassifierOptions, load_classifier, load_tokenizer, resolve_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepPlan:
    target_step: int  # where this rung stops
    max_steps: int  # the ladder's top budget: the schedule's length


def budget_to_steps(budget: float, unit: BudgetUnit, updates_per_epoch: int) -> int:
    if unit == "steps":
        return max(1, round(budget))
    # Round first: 0.3 epochs * 10 steps is 3.0000000000000004, which must not become 4.
    return max(1, math.ceil(round(budget * updates_per_epoch, 9)))


def plan_steps(job: TrialJob, train_rows: int, train_batch_size: int) -> StepPlan:
    """Optimizer steps for the rung and for the whole ladder, as the Trainer counts them."""
    batches = math.ceil(train_rows / train_batch_size)
    updates_per_epoch = max(1, math.ceil(batches / job.training.gradient_accumulation_steps))
    max_steps = budget_to_steps(job.max_budget, job.unit, updates_per_epoch)
    target = min(budget_to_steps(job.budget, job.unit, updates_per_epoch), max_steps)
    return StepPlan(target_step=target, max_steps=max_steps)


def choose_resume_point(job: TrialJob, output_dir: Path) -> CheckpointInfo | None:
    """The most advanced complete checkpoint among ``job.resume_from`` and the trial's dir.

    Every checkpoint in the trial's directory lies on the same deterministic trajectory (same
    config, seed and schedule), so the newest one is simply the most progress there is: after
    a crash it beats the rung's starting checkpoint, which may even have been pruned.
    """
    candidates = []
    if job.resume_from is not None:
        given = Path(job.resume_from.path)
        if not given.is_dir():
            log_event(log, "resume.missing", **_fields(job), path=given, level=logging.WARNING)
        elif not is_complete(given):
            raise BadInputError(f"resume_from {str(given)!r}: checkpoint is incomplete")
        else:
            candidates.append(read_marker(given) or job.resume_from)
    found = latest_complete(output_dir)
    if found is not None:
        candidates.append(found)
    if not candidates and job.resume_from is not None:
        raise BadInputError(f"resume_from {job.resume_from.path!r}: no such checkpoint")
    return max(candidates, key=lambda info: info.step, default=None)


def fine_tune(job: TrialJob, hooks: TrainingHooks | None = None) -> TrainOutcome:
    """Train ``job.trial`` to ``job.budget`` and return the last complete checkpoint."""
    hooks = hooks or TrainingHooks()
    quiet_progress_bars()
    started = time.monotonic()
    output_dir = trial_output_dir(job)
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_incomplete(output_dir)

    splits = load_snapshot_splits(job.snapshot)
    args = training_arguments(job.training, output_dir, seed=job.trial.seed)
    plan = plan_steps(job, len(splits[TRAIN_SPLIT]), args.train_batch_size)
    args.max_steps = plan.max_steps
    resume = choose_resume_point(job, output_dir)
    initial = hooks.poll_control()
    if resume is not None and (resume.step >= plan.target_step or initial.stop != "none"):
        # Nothing to train: already there, or asked to stop before starting.
        stopped = {"none": "budget", "pause": "paused", "cancel": "cancelled"}[initial.stop]
        if resume.step >= plan.target_step:
            stopped = "budget"
        log_event(log, "fine_tune.skipped", **_fields(job), step=resume.step, stopped=stopped)
        return TrainOutcome(
            checkpoint=resume.model_copy(update={"rung": job.rung}),
            global_step=resume.step,
            train_loss=None,
            train_seconds=time.monotonic() - started,
            stopped=stopped,  # type: ignore[arg-type]
        )

    source = resolve_model(job.model)
    tokenizer = load_tokenizer(source)
    options = ClassifierOptions(
        label_names=tuple(job.snapshot.label_names),
        seed=job.trial.seed,
        hidden_dropout_prob=job.training.hidden_dropout_prob,
        attention_probs_dropout_prob=job.training.attention_probs_dropout_prob,
    )
    model = load_classifier(source, tokenizer, options)
    train_features = tokenize(splits[TRAIN_SPLIT], tokenizer, job.training.max_length)
    callback = TrialCallback(
        output_dir=output_dir,
        rung=job.rung,
        target_step=plan.target_step,
        max_steps=plan.max_steps,
        keep_checkpoints=job.training.keep_checkpoints,
        hooks=hooks,
        initial_control=initial,
        resumed_from=resume,
        log_fields=_fields(job),
    )
    trainer = Trainer(
        model=model,
        args=args,
        data_collator=DataCollatorWithPadding(tokenizer),
        train_dataset=train_features,
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
    callback.heartbeat()
    train_started = time.monotonic()
    try:
        result = trainer.train(resume_from_checkpoint=resume.path if resume else None)
    finally:
        del trainer, model
        _release_memory()
    if callback.latest is None or callback.latest.step != result.global_step:
        raise RuntimeError(f"training stopped at step {result.global_step} without a checkpoint")
    train_seconds = time.monotonic() - train_started
    steps = result.global_step - (resume.step if resume else 0)
    log_event(
        log,
        "fine_tune.done",
        **_fields(job),
        step=result.global_step,
        stopped=callback.stopped,
        train_loss=result.training_loss,
        seconds=train_seconds,
        samples_per_second=steps * args.train_batch_size * args.gradient_accumulation_steps
        / max(train_seconds, 1e-9),
    )
    return TrainOutcome(
        checkpoint=callback.latest.model_copy(update={"rung": job.rung}),
        global_step=result.global_step,
        train_loss=result.training_loss,
        train_seconds=train_seconds,
        stopped=callback.stopped,
    )


def training_arguments(params: TrainingParams, output_dir: Path, *, seed: int) -> TrainingArguments:
    """The trial's Trainer settings. Identical across rungs and restarts of one trial, which
    is what makes resuming exact. ``max_steps`` is set by the caller once the batch size on
    this machine is known."""
    try:
        return TrainingArguments(
            output_dir=str(output_dir),
            max_steps=1,
            per_device_train_batch_size=params.per_device_train_batch_size,
            per_device_eval_batch_size=params.per_device_eval_batch_size,
            gradient_accumulation_steps=params.gradient_accumulation_steps,
            learning_rate=params.learning_rate,
            weight_decay=params.weight_decay,
            warmup_steps=params.warmup_ratio,  # a float below 1 is a ratio of max_steps
            lr_scheduler_type=params.lr_scheduler_type,
            max_grad_norm=params.max_grad_norm,
            adam_beta1=params.adam_beta1,
            adam_beta2=params.adam_beta2,
            adam_epsilon=params.adam_epsilon,
            label_smoothing_factor=params.label_smoothing_factor,
            save_strategy="steps",
            save_steps=params.checkpoint_every_steps,
            save_total_limit=None,  # pruning is ours: it must skip incomplete checkpoints
            eval_strategy="no",
            logging_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=seed,
            data_seed=seed,
            dataloader_pin_memory=torch.cuda.is_available(),
            **_precision_flags(params.precision),
        )
    except ValueError as exc:  # e.g. fp16 requested on a machine without a GPU
        raise BadInputError(f"training params: {exc}") from exc


def _precision_flags(precision: str) -> dict[str, Any]:
    if precision == "auto":
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return {"bf16": bf16}
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _fields(job: TrialJob) -> dict[str, object]:
    return {"sweep_id": job.sweep_id, "trial_id": job.trial_id, "rung": job.rung}
