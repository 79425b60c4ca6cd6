"""The peer: Optuna's TPE sampler and Hyperband pruner driving the product's training code in
this process, the way an Optuna user would fine-tune with the Hugging Face Trainer.

Each trial builds its Trainer from the product's own pieces (``training_arguments``, the
model, tokenizer and features of ``workers.ml``), with the ladder's top budget as
``max_steps`` so its schedule matches a product trial of the same configuration. A pruning
callback saves a checkpoint at each of the ladder's budgets, evaluates it on the held-out
split with the product's ``evaluate_checkpoint``, reports the accuracy to the trial and stops
training when the pruner says so. Trials run one after another until the product's number
of training steps is spent; the last one is cut where the budget ends.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from transformers import (
    DataCollatorWithPadding,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from app.domain import CheckpointInfo, DatasetSnapshot, EvalInput, SweepRequest, derive_seed
from app.domain.space import FloatParam, IntParam, ParamValue
from app.domain.training_params import TrainingParams
from benchmarks.finetune.finetune_accounting import rung_steps
from workers.ml.checkpoints import checkpoint_dir, mark_complete
from workers.ml.evaluate import evaluate_checkpoint
from workers.ml.features import quiet_progress_bars, tokenize
from workers.ml.normalise import EVAL_SPLIT, TRAIN_SPLIT
from workers.ml.snapshot import create_snapshot, load_snapshot_splits
from workers.ml.sources import ClassifierOptions, load_classifier, load_tokenizer, resolve_model
from workers.ml.trainer_setup import training_arguments


@dataclass
class PeerTrial:
    number: int
    params: dict[str, ParamValue]
    steps: int = 0
    reports: list[tuple[int, float]] = field(default_factory=list)
    outcome: str = "running"  # complete, pruned, cut (the step budget ran out)

    def describe(self) -> str:
        params = ", ".join(f"{k}={v:.3g}" for k, v in self.params.items() if isinstance(v, float))
        reports = ", ".join(f"{acc:.3f}@{step}" for step, acc in self.reports)
        return f"{self.number} ({params}): {self.outcome} at step {self.steps}; {reports}"


@dataclass
class PeerRun:
    seed: int
    step_budget: int
    wall_seconds: float
    trials: list[PeerTrial]
    best_accuracy: float  # best complete trial (top budget), NaN when none completed
    majority_share: float  # held-out accuracy of always answering the commonest label

    @property
    def steps(self) -> int:
        return sum(t.steps for t in self.trials)

    @property
    def evaluations(self) -> int:
        return sum(len(t.reports) for t in self.trials)

    def count(self, outcome: str) -> int:
        return sum(t.outcome == outcome for t in self.trials)


class PruningCallback(TrainerCallback):
    """Evaluate at the ladder's budgets, report to Optuna, stop when pruned or out of steps."""

    def __init__(
        self,
        trial: optuna.Trial,
        record: PeerTrial,
        budgets: list[int],
        stop_at: int,
        evaluate: Callable[[int, float], float],
    ) -> None:
        self.trial = trial
        self.record = record
        self.budgets = set(budgets)
        self.top = max(budgets)
        self.stop_at = stop_at
        self.evaluate = evaluate

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any
    ) -> TrainerControl:
        step = state.global_step
        self.record.steps = step
        if step in self.budgets:
            control.should_save = True  # evaluated from the checkpoint, in on_save
        if step >= self.stop_at and step < self.top:
            control.should_training_stop = True
            self.record.outcome = "cut"
        return control

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any
    ) -> TrainerControl:
        step = state.global_step
        if step not in self.budgets or self.record.outcome == "cut":
            return control
        accuracy = self.evaluate(step, max(state.epoch or 0.0, 0.0))
        self.record.reports.append((step, accuracy))
        self.trial.report(accuracy, step)
        if step >= self.top:
            self.record.outcome = "complete"
        elif self.trial.should_prune():
            self.record.outcome = "pruned"
            control.should_training_stop = True
        return control


def suggest(trial: optuna.Trial, request: SweepRequest) -> dict[str, ParamValue]:
    """The request's search space, drawn through Optuna's own suggest API."""
    params: dict[str, ParamValue] = {}
    for name, param in request.space.items():
        if isinstance(param, FloatParam):
            params[name] = trial.suggest_float(name, param.low, param.high, log=param.log)
        elif isinstance(param, IntParam):
            step = None if param.log else param.step
            params[name] = trial.suggest_int(
                name, param.low, param.high, step=step or 1, log=param.log
            )
        else:
            choice = trial.suggest_categorical(name, list(param.choices))
            assert choice is not None  # the space's choices are never None
            params[name] = choice
    return params


class Objective:
    """One Optuna trial: train with the sampled parameters until done, pruned or out of steps."""

    def __init__(
        self, request: SweepRequest, snapshot: DatasetSnapshot, work_dir: Path, step_budget: int
    ) -> None:
        self.request = request
        self.snapshot = snapshot
        self.work_dir = work_dir
        self.step_budget = step_budget
        self.budgets = rung_steps(request.ladder)
        self.trials: list[PeerTrial] = []
        source = resolve_model(request.model)
        self.source = source
        self.tokenizer = load_tokenizer(source)
        splits = load_snapshot_splits(snapshot)
        self.train_split = splits[TRAIN_SPLIT]
        labels = list(splits[EVAL_SPLIT]["label"])
        self.majority_share = max(map(labels.count, set(labels))) / max(len(labels), 1)

    @property
    def steps_left(self) -> int:
        return self.step_budget - sum(t.steps for t in self.trials)

    def __call__(self, trial: optuna.Trial) -> float:
        record = PeerTrial(trial.number, suggest(trial, self.request))
        stop_at = min(self.steps_left, max(self.budgets))
        self.trials.append(record)
        output_dir = self.work_dir / f"trial-{trial.number:04d}"
        try:
            self._train(trial, record, output_dir, stop_at)
        finally:
            shutil.rmtree(output_dir, ignore_errors=True)
        print(f"  optuna trial {record.describe()}", file=sys.stderr, flush=True)
        if record.outcome != "complete":
            raise optuna.TrialPruned()
        return record.reports[-1][1]

    def _train(
        self, trial: optuna.Trial, record: PeerTrial, output_dir: Path, stop_at: int
    ) -> None:
        params = self._training_params(record.params)
        seed = derive_seed(self.request.seed, trial.number, "train")
        args = training_arguments(params, output_dir, seed=seed)
        args.max_steps = max(self.budgets)

        def evaluate(step: int, epoch: float) -> float:
            info = CheckpointInfo(
                path=str(checkpoint_dir(output_dir, step)),
                step=step,
                epoch=epoch,
                rung=self.budgets.index(step),
                reason="rung_end",
            )
            mark_complete(info)
            done = evaluate_checkpoint(
                EvalInput(
                    checkpoint=info,
                    snapshot=self.snapshot,
                    batch_size=params.per_device_eval_batch_size,
                    max_length=params.max_length,
                )
            )
            return done.metrics.accuracy

        options = ClassifierOptions(
            label_names=tuple(self.snapshot.label_names),
            seed=seed,
            hidden_dropout_prob=params.hidden_dropout_prob,
            attention_probs_dropout_prob=params.attention_probs_dropout_prob,
        )
        trainer = Trainer(
            model=load_classifier(self.source, self.tokenizer, options),
            args=args,
            data_collator=DataCollatorWithPadding(self.tokenizer),
            train_dataset=tokenize(self.train_split, self.tokenizer, params.max_length),
            processing_class=self.tokenizer,
            callbacks=[PruningCallback(trial, record, self.budgets, stop_at, evaluate)],
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()

    def _training_params(self, sampled: dict[str, ParamValue]) -> TrainingParams:
        # Checkpoints only where the callback asks (the budgets): interval saves would cost
        # the peer time the product's trials do not spend either (they save at rung ends).
        values = {**self.request.training.model_dump(), **sampled}
        values["checkpoint_every_steps"] = max(self.budgets)
        return TrainingParams.model_validate(values)


def run_peer(request: SweepRequest, seed: int, step_budget: int) -> PeerRun:
    """Optuna TPE + Hyperband on ``request``'s model, data, space and ladder budgets, seeded
    ``seed``, until ``step_budget`` training steps are spent. The wall time includes the
    dataset snapshot, as the product's sweep does."""
    quiet_progress_bars()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    request = request.model_copy(update={"seed": seed})
    budgets = rung_steps(request.ladder)
    eta = round(request.ladder.reduction_factor or 3)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="optuna-peer-") as work:
        snapshot = create_snapshot(request.dataset, str(Path(work) / "snapshots"))
        objective = Objective(request, snapshot, Path(work), step_budget)
        study = optuna.create_study(
            # A fixed name: Hyperband assigns trials to brackets by hashing it.
            study_name=f"finetune-peer-{seed}",
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.HyperbandPruner(
                min_resource=budgets[0], max_resource=budgets[-1], reduction_factor=eta
            ),
        )
        while objective.steps_left > 0:
            study.optimize(objective, n_trials=1)
    complete = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = max((v for v in complete if v is not None and math.isfinite(v)), default=math.nan)
    wall = time.monotonic() - started
    return PeerRun(seed, step_budget, wall, objective.trials, best, objective.majority_share)
