"""A sweep's ladder run in this process through the product's own activities.

The train_and_evaluate activity runs under ``ActivityEnvironment`` (no server), with
the configurations from the sampler seeded as the sweep workflow seeds it and the promotions
from ``app.search.rungs``: the same jobs the workflow would hand the training worker. Only the
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
    CheckpointInfo,
    DatasetSnapshot,
    FineTuneInput,
    Observation,
    ProposeInput,
    RungResult,
    SnapshotInput,
    SweepRequest,
    TrainingParams,
    TrialConfig,
    TrialJob,
    TrialResult,
    TrialStatus,
)
from app.search import rungs
from app.search.sampler import propose
from benchmarks.finetune.step_ledger import Promotion, RungRun
from workers.activities.training_queue import TrainingActivities


@dataclass
class Proposals:
    """Configurations per rung, shared by both modes so that they train the same proposals:
    the first mode to reach a rung proposes (from its observations, as the workflow does)."""

    by_rung: dict[int, list[TrialConfig]] = field(default_factory=dict)

    def at(
        self, request: SweepRequest, rung: int, first_index: int, observations: list[Observation]
    ) -> list[TrialConfig]:
        if rung not in self.by_rung:
            count = request.ladder.trials if rung == 0 else request.ladder.rungs[rung].new_trials
            self.by_rung[rung] = (
                propose(
                    ProposeInput(
                        space=request.space,
                        strategy=request.strategy,
                        direction=request.objective.resolved_direction,
                        sweep_seed=request.seed,
                        trial_indices=list(range(first_index, first_index + count)),
                        born_rung=rung,
                        observations=observations,
                    )
                )
                if count
                else []
            )
        return self.by_rung[rung]


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
        ladder = request.ladder
        direction = request.objective.resolved_direction
        started = time.monotonic()
        trials: dict[int, TrialResult] = {}
        configs: dict[int, TrialConfig] = {}
        runs: list[RungRun] = []
        train_seconds = 0.0
        promoted: list[int] = []
        for rung in range(len(ladder.rungs)):
            observations = _observations(trials.values())
            fresh = self.proposals.at(request, rung, len(configs), observations)
            for config in fresh:
                configs[config.trial_index] = config
            entrants = promoted + [c.trial_index for c in fresh]
            for index in entrants:
                previous = trials.get(index)
                job = self._job(promotion, configs[index], rung, previous)
                run, result, seconds = self._train_and_evaluate(job, previous)
                runs.append(run)
                trials[index] = result
                train_seconds += seconds
                _progress(promotion, run)
            members = [trials[i] for i in entrants]
            promoted = [
                t.trial_index for t in rungs.select_survivors(ladder, rung, members, direction)
            ]
            if rungs.sweep_finished(ladder, rung, len(promoted)):
                break
        ordered = [trials[i] for i in sorted(trials)]
        return LadderRun(
            promotion=promotion,
            runs=runs,
            trials=ordered,
            best=rungs.best_trial(ordered, direction),
            wall_seconds=time.monotonic() - started,
            train_seconds=train_seconds,
        )

    def _job(
        self, promotion: Promotion, config: TrialConfig, rung: int, previous: TrialResult | None
    ) -> TrialJob:
        request = self.request
        # Retraining from scratch gets a trial directory of its own per rung: fine_tune resumes
        # from the newest complete checkpoint it finds in the trial's directory.
        artifact_root = self.root / promotion / (f"rung-{rung}" if promotion == "scratch" else "")
        resume_from = (
            previous.checkpoint if previous is not None and promotion == "continue" else None
        )
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

    def _train_and_evaluate(
        self, job: TrialJob, previous: TrialResult | None
    ) -> tuple[RungRun, TrialResult, float]:
        env = ActivityEnvironment()
        beats: list[tuple[Any, ...]] = []
        env.on_heartbeat = lambda *details: beats.append(details)
        outcome = env.run(
            self.activities.train_and_evaluate,
            FineTuneInput(job=job, training_workflow_id=f"{job.sweep_id}.{job.trial.trial_id}"),
        )
        assert outcome.metrics is not None, outcome
        metrics = outcome.metrics
        value = metrics.value(self.request.objective.metric)
        run = RungRun(
            trial_index=job.trial.trial_index,
            rung=job.rung,
            start_step=_start_step(beats, outcome.global_step),
            end_step=outcome.global_step,
            accuracy=metrics.accuracy,
        )
        result = _record(job, previous, outcome.checkpoint, outcome.global_step, metrics, value)
        rung_result = RungResult(
            rung=job.rung,
            budget=job.budget,
            global_step=outcome.global_step,
            metrics=metrics,
            objective_value=value,
            checkpoint=outcome.checkpoint,
            train_seconds=outcome.train_seconds,
            eval_seconds=outcome.eval_seconds,
        )
        result = result.model_copy(update={"rungs": [*result.rungs, rung_result]})
        return run, result, outcome.train_seconds


def _start_step(beats: list[tuple[Any, ...]], global_step: int) -> int:
    """Where the run actually started: the step of its first heartbeat (the resume point
    fine_tune chose); a run that trained nothing sends none."""
    for details in beats:
        if len(details) > 1 and isinstance(details[1], dict) and "step" in details[1]:
            return int(details[1]["step"])
    return global_step


def _record(
    job: TrialJob,
    previous: TrialResult | None,
    checkpoint: CheckpointInfo,
    step: int,
    metrics: Any,
    value: float,
) -> TrialResult:
    base = previous or TrialResult(
        trial_id=job.trial.trial_id,
        trial_index=job.trial.trial_index,
        params=job.trial.params,
        seed=job.trial.seed,
        status=TrialStatus.PENDING,
        rung=job.rung,
    )
    return base.model_copy(
        update={
            "status": TrialStatus.RUNG_DONE,
            "rung": job.rung,
            "objective_value": value,
            "metrics": metrics,
            "checkpoint": checkpoint,
        }
    )


def _observations(trials: Any) -> list[Observation]:
    return [
        Observation(
            trial_index=trial.trial_index,
            params=trial.params,
            rung=result.rung,
            value=result.objective_value,
        )
        for trial in trials
        for result in trial.rungs
    ]


def _progress(promotion: Promotion, run: RungRun) -> None:
    print(
        f"  {promotion}: trial {run.trial_index} rung {run.rung}: steps {run.start_step}"
        f"->{run.end_step}, accuracy {run.accuracy:.4f}",
        file=sys.stderr,
        flush=True,
    )
