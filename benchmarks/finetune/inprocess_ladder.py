"""A sweep's ladder run in this process through the product's own activities.

The train_and_evaluate activity runs under ``ActivityEnvironment`` (no server); entrants,
waves, proposals and promotions follow the sweep workflow's own bookkeeping
(``app.search.ladder`` through ``benchmarks.common.ladder_driver``), with the sampler seeded as
the workflow seeds it: the same jobs the workflow would hand the training worker. Only the
promotion differs between the two modes: ``continue`` passes the trial's last checkpoint as
``resume_from`` (what the service does); ``scratch`` starts every run in an empty trial
directory, so the trial retrains from step 0 to the rung's budget.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.testing import ActivityEnvironment

from app.domain import (
    DatasetSnapshot,
    FineTuneInput,
    ProposeInput,
    RungResult,
    SnapshotInput,
    SweepRequest,
    TrainingParams,
    TrialConfig,
    TrialJob,
    TrialResult,
)
from app.search import rungs
from app.search.ladder import LadderPlan
from app.search.sampler import propose
from benchmarks.common.ladder_driver import drive_ladder
from benchmarks.finetune.step_ledger import Promotion, RungRun
from workers.activities.training_queue import TrainingActivities


@dataclass
class Proposals:
    """Configurations shared by both modes, so that they train the same proposals: the first
    mode to ask for a set of trial indices proposes it (from its observations, as the
    workflow does)."""

    made: dict[tuple[int, ...], list[TrialConfig]] = field(default_factory=dict)

    def __call__(self, inp: ProposeInput) -> list[TrialConfig]:
        key = tuple(inp.trial_indices)
        if key not in self.made:
            self.made[key] = propose(inp)
        return self.made[key]

    def config(self, index: int) -> TrialConfig:
        return next(c for made in self.made.values() for c in made if c.trial_index == index)


@dataclass
class LadderRun:
    promotion: Promotion
    runs: list[RungRun]
    trials: list[TrialResult]
    best: TrialResult | None
    wall_seconds: float
    train_seconds: float


class InProcessLadder:
    """Runs ladders of one sweep request under ``root`` (snapshot, checkpoints)."""

    def __init__(self, request: SweepRequest, root: Path) -> None:
        self.request = request
        self.root = root
        # The activities talk to workflows only through a client; without one (None) they
        # skip the checkpoint reports and control queries, so this loop is never used.
        self.activities = TrainingActivities(asyncio.new_event_loop(), None)
        self.proposals = Proposals()
        self._snapshot: DatasetSnapshot | None = None

    def snapshot(self) -> DatasetSnapshot:
        if self._snapshot is None:
            inp = SnapshotInput(
                dataset=self.request.dataset, snapshot_root=str(self.root / "snapshots")
            )
            self._snapshot = ActivityEnvironment().run(self.activities.snapshot_dataset, inp)
        return self._snapshot

    def run(self, promotion: Promotion) -> LadderRun:
        request = self.request
        started = time.monotonic()
        runs: list[RungRun] = []
        seconds = {"train": 0.0}

        def train(trial: TrialResult, rung: int, budget: float) -> RungResult:
            job = self._job(promotion, trial, rung)
            run, result = self._train_and_evaluate(job)
            runs.append(run)
            seconds["train"] += result.train_seconds
            _progress(promotion, run)
            return result

        state = drive_ladder(LadderPlan.of(request), self.proposals, train)
        ordered = [state.trials[i] for i in sorted(state.trials)]
        return LadderRun(
            promotion=promotion,
            runs=runs,
            trials=ordered,
            best=rungs.best_trial(ordered, request.objective.resolved_direction),
            wall_seconds=time.monotonic() - started,
            train_seconds=seconds["train"],
        )

    def _job(self, promotion: Promotion, trial: TrialResult, rung: int) -> TrialJob:
        request = self.request
        # Retraining from scratch gets a trial directory of its own per rung: fine_tune resumes
        # from the newest complete checkpoint it finds in the trial's directory.
        artifact_root = self.root / promotion / (f"rung-{rung}" if promotion == "scratch" else "")
        resume_from = trial.checkpoint if promotion == "continue" else None
        config = self.proposals.config(trial.trial_index)
        return TrialJob(
            sweep_id=f"bench-{promotion}",
            sweep_workflow_id=f"bench-{promotion}",
            trial=config,
            rung=rung,
            budget=request.ladder.rungs[rung].budget,
            max_budget=request.ladder.max_budget,
            unit=request.ladder.unit,
            model=request.model,
            training=TrainingParams.model_validate(
                {**request.training.model_dump(), **config.params}
            ),
            snapshot=self.snapshot(),
            objective=request.objective,
            artifact_root=str(artifact_root),
            resume_from=resume_from,
        )

    def _train_and_evaluate(self, job: TrialJob) -> tuple[RungRun, RungResult]:
        env = ActivityEnvironment()
        beats: list[tuple[Any, ...]] = []
        env.on_heartbeat = lambda *details: beats.append(details)
        outcome = env.run(self.activities.train_and_evaluate, FineTuneInput(job=job))
        assert outcome.metrics is not None, outcome
        metrics = outcome.metrics
        run = RungRun(
            trial_index=job.trial.trial_index,
            rung=job.rung,
            start_step=_start_step(beats, outcome.global_step),
            end_step=outcome.global_step,
            accuracy=metrics.accuracy,
        )
        result = outcome.rung_result(job.rung, job.budget, self.request.objective.metric)
        return run, result


def _start_step(beats: list[tuple[Any, ...]], global_step: int) -> int:
    """Where the run actually started: the step of its first heartbeat (the resume point
    fine_tune chose); a run that trained nothing sends none."""
    for details in beats:
        if len(details) > 1 and isinstance(details[1], dict) and "step" in details[1]:
            return int(details[1]["step"])
    return global_step


def _progress(promotion: Promotion, run: RungRun) -> None:
    print(
        f"  {promotion}: trial {run.trial_index} rung {run.rung}: steps {run.start_step}"
        f"->{run.end_step}, accuracy {run.accuracy:.4f}",
        file=sys.stderr,
        flush=True,
    )
