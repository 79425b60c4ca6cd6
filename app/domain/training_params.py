"""Training hyperparameters: the fixed ones of a sweep, and the ones a search may vary."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SchedulerType = Literal["linear", "cosine", "constant", "constant_with_warmup"]


class TrainingParams(BaseModel):
    """Every knob of one fine-tune. A trial's values = these, overridden by its sampled params."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    learning_rate: float = Field(default=5e-5, gt=0, le=1)
    weight_decay: float = Field(default=0.0, ge=0, le=1)
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    lr_scheduler_type: SchedulerType = "linear"
    per_device_train_batch_size: int = Field(default=16, ge=1, le=4096)
    per_device_eval_batch_size: int = Field(default=64, ge=1, le=4096)
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=1024)
    max_grad_norm: float = Field(default=1.0, gt=0, le=1e6)
    adam_beta1: float = Field(default=0.9, ge=0, lt=1)
    adam_beta2: float = Field(default=0.999, ge=0, lt=1)
    adam_epsilon: float = Field(default=1e-8, gt=0, le=1)
    label_smoothing_factor: float = Field(default=0.0, ge=0, lt=1)
    hidden_dropout_prob: float | None = Field(default=None, ge=0, lt=1)
    attention_probs_dropout_prob: float | None = Field(default=None, ge=0, lt=1)
    max_length: int = Field(default=128, ge=8, le=8192, description="Tokens per example.")
    checkpoint_every_steps: int = Field(
        default=50, ge=1, le=10**9, description="Save a checkpoint every N optimizer steps."
    )
    keep_checkpoints: int = Field(
        default=2, ge=1, le=100, description="Checkpoints kept per trial; older ones are pruned."
    )
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        default="auto", description="auto: bf16 on GPUs that support it, fp32 elsewhere."
    )
    deterministic: bool = Field(
        default=False,
        description="Deterministic GPU kernels: a promoted trial then equals a straight run "
        "bit for bit on GPUs too (on CPU it always does), at roughly 30% less throughput.",
    )
    torch_compile: bool = Field(
        default=False,
        description="Compile the model with torch.compile (the Trainer's torch_compile): "
        "faster steps on GPUs, after a one-off compilation at the start of each training run.",
    )


SEARCHABLE_PARAMS: frozenset[str] = frozenset(
    {
        "learning_rate",
        "weight_decay",
        "warmup_ratio",
        "lr_scheduler_type",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "max_grad_norm",
        "adam_beta1",
        "adam_beta2",
        "adam_epsilon",
        "label_smoothing_factor",
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
    }
)

INTEGER_PARAMS: frozenset[str] = frozenset(
    {"per_device_train_batch_size", "gradient_accumulation_steps"}
)
