"""SweepRequest: everything a client says about one sweep, validated before anything starts."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.domain.space import CategoricalParam, FloatParam, IntParam, SweepSpace
from app.domain.training_params import INTEGER_PARAMS, SEARCHABLE_PARAMS, TrainingParams
from app.domain.webhook_targets import WebhookTarget

MetricName = Literal["accuracy", "f1_macro", "eval_loss"]
Direction = Literal["maximize", "minimize"]
Strategy = Literal["tpe", "random"]
BudgetUnit = Literal["steps", "epochs"]

_DEFAULT_DIRECTION: dict[str, Direction] = {
    "accuracy": "maximize",
    "f1_macro": "maximize",
    "eval_loss": "minimize",
}


# Hard caps whatever the deployment allows (its SWEEPS_MAX_* limits are usually far lower):
# beyond them a sweep's workflow history and payloads would outgrow Temporal's limits.
MAX_TRIALS = 100_000
MAX_RUNGS = 50


class _Strict(BaseModel):
    # No inf/NaN: an infinite budget would crash the ladder checks instead of failing validation.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModelSpec(_Strict):
    """The model to fine-tune: a bundled alias, a Hugging Face id, or a local directory."""

    source: str = Field(
        min_length=1,
        max_length=500,
        description="'minilm-l6' (bundled, pretrained), 'tiny-bert' (bundled, random init), "
        "a Hugging Face model id such as 'bert-base-uncased', or a local directory.",
        examples=["minilm-l6"],
    )
    revision: str | None = Field(default=None, max_length=200)


class DatasetSpec(_Strict):
    """A text classification dataset: bundled alias, Hugging Face dataset, or local file."""

    source: str = Field(
        min_length=1,
        max_length=500,
        description="'tweet-sentiment' (bundled), a Hugging Face dataset name such as 'glue', "
        "or a local .csv/.json/.jsonl/.parquet file.",
        examples=["tweet-sentiment"],
    )
    config: str | None = Field(default=None, max_length=200, description="HF dataset config.")
    text_field: str = Field(default="text", min_length=1, max_length=200)
    text_pair_field: str | None = Field(default=None, min_length=1, max_length=200)
    label_field: str = Field(default="label", min_length=1, max_length=200)
    train_split: str = Field(default="train", min_length=1, max_length=200)
    eval_split: str | None = Field(
        default="validation",
        max_length=200,
        description="Held-out split. When the source has no such split, a holdout_fraction "
        "of the training split is held out instead.",
    )
    holdout_fraction: float = Field(default=0.1, gt=0, lt=1)
    split_seed: int = Field(
        default=0, ge=0, le=2**31 - 1, description="Seed of shuffling and held-out split."
    )
    max_train_samples: int | None = Field(default=None, ge=1, le=10**9)
    max_eval_samples: int | None = Field(default=None, ge=1, le=10**9)


class Objective(_Strict):
    """The metric that ranks trials, and whether larger or smaller is better."""

    metric: MetricName = "accuracy"
    direction: Direction | None = Field(
        default=None, description="Defaults to maximize for accuracy/f1_macro, minimize for loss."
    )

    @property
    def resolved_direction(self) -> Direction:
        return self.direction or _DEFAULT_DIRECTION[self.metric]

    def better(self, a: float, b: float) -> bool:
        """True when value a is strictly better than b."""
        return a > b if self.resolved_direction == "maximize" else a < b


class Rung(_Strict):
    """One stage of the ladder: every trial in it trains up to ``budget``."""

    budget: float = Field(
        gt=0, le=1e9, description="Cumulative training budget, in the ladder's unit."
    )
    keep: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TRIALS,
        description="How many trials of this rung survive into the next (top-k by objective). "
        "Defaults to entrants / reduction_factor. Not allowed on the last rung.",
    )
    new_trials: int = Field(
        default=0,
        ge=0,
        le=MAX_TRIALS,
        description="Fresh configurations proposed when this rung starts, trained from scratch "
        "to its budget (not allowed on the first rung: use ladder.trials).",
    )


class Ladder(_Strict):
    """Successive halving: trials start at rung 0; the best continue from their checkpoints."""

    unit: BudgetUnit = "steps"
    trials: int = Field(
        ge=1, le=MAX_TRIALS, description="Configurations proposed for the first rung."
    )
    rungs: list[Rung] = Field(min_length=1, max_length=MAX_RUNGS)
    reduction_factor: float | None = Field(
        default=None, gt=1, le=1000, description="eta: a rung keeps entrants / eta (at least 1)."
    )

    @model_validator(mode="after")
    def _check_ladder(self) -> Ladder:
        budgets = [r.budget for r in self.rungs]
        for i in range(1, len(budgets)):
            if budgets[i] <= budgets[i - 1]:
                raise ValueError(
                    f"rungs[{i}].budget ({budgets[i]:g}) must be larger than "
                    f"rungs[{i - 1}].budget ({budgets[i - 1]:g}): budgets must increase"
                )
        if self.unit == "steps":
            for i, b in enumerate(budgets):
                if b != int(b):
                    raise ValueError(f"rungs[{i}].budget must be a whole number of steps, got {b}")
        if self.rungs[0].new_trials:
            raise ValueError(
                "rungs[0].new_trials is not allowed: ladder.trials sets the first rung"
            )
        last = len(self.rungs) - 1
        if self.rungs[last].keep is not None:
            raise ValueError(f"rungs[{last}].keep is not allowed: the last rung promotes nobody")
        entrants = self.trials
        for i, rung in enumerate(self.rungs[:-1]):
            if rung.keep is None and self.reduction_factor is None:
                raise ValueError(f"rungs[{i}].keep is required when no reduction_factor is set")
            if rung.keep is not None and rung.keep > entrants:
                raise ValueError(
                    f"rungs[{i}].keep ({rung.keep}) is larger than the {entrants} trials "
                    f"that enter rung {i}"
                )
            entrants = self.survivors(i, entrants) + self.rungs[i + 1].new_trials
        return self

    def survivors(self, rung: int, entrants: int) -> int:
        """How many of ``entrants`` trials at ``rung`` are promoted to the next rung."""
        keep = self.rungs[rung].keep
        if keep is not None:
            return min(keep, entrants)
        assert self.reduction_factor is not None
        return max(1, math.floor(entrants / self.reduction_factor))

    def entrants(self) -> list[int]:
        """Trials that train at each rung (promoted plus new), when no trial fails."""
        counts = [self.trials]
        for i in range(1, len(self.rungs)):
            counts.append(self.survivors(i - 1, counts[-1]) + self.rungs[i].new_trials)
        return counts

    @property
    def max_budget(self) -> float:
        return self.rungs[-1].budget

    @property
    def total_trials(self) -> int:
        return self.trials + sum(r.new_trials for r in self.rungs)


class SweepRequest(_Strict):
    """A sweep: what to fine-tune on what, which hyperparameters to search, how to spend compute."""

    name: str = Field(
        min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", examples=["demo"]
    )
    model: ModelSpec
    dataset: DatasetSpec
    space: SweepSpace
    training: TrainingParams = Field(default_factory=TrainingParams)
    objective: Objective = Field(default_factory=Objective)
    ladder: Ladder
    strategy: Strategy = "tpe"
    max_concurrency: int = Field(default=2, ge=1, le=1024)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    webhooks: list[WebhookTarget] = Field(
        default_factory=list,
        max_length=10,
        description="Endpoints told about this sweep (signed; secrets in the POST /sweeps "
        "answer, shown once). Endpoints registered with POST /webhooks are told as well.",
    )

    @model_validator(mode="after")
    def _check_space_against_training(self) -> SweepRequest:
        for name, param in self.space.items():
            if name not in SEARCHABLE_PARAMS:
                raise ValueError(
                    f"space.{name}: not a searchable parameter; choose from "
                    + ", ".join(sorted(SEARCHABLE_PARAMS))
                )
            if isinstance(param, FloatParam) and name in INTEGER_PARAMS:
                raise ValueError(f"space.{name}: takes whole numbers; use type 'int'")
            for value in _extremes(param):
                try:
                    TrainingParams.model_validate({**self.training.model_dump(), name: value})
                except ValidationError as exc:
                    reason = exc.errors()[0]["msg"]
                    raise ValueError(
                        f"space.{name}: value {value!r} is invalid: {reason}"
                    ) from None
        return self


def _extremes(param: FloatParam | IntParam | CategoricalParam) -> list[object]:
    if isinstance(param, CategoricalParam):
        return list(param.choices)
    return [param.low, param.high]
