"""A trial's Trainer settings and step plan: identical on every rung and restart of a trial,
which is what makes promotion and crash recovery exact."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainingArguments

from app.domain import TrialJob
from app.domain.request import BudgetUnit
from app.domain.training_params import TrainingParams
from workers.ml.errors import BadInputError


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
            full_determinism=params.deterministic,
            torch_compile=params.torch_compile,
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
