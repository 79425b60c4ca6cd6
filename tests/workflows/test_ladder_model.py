"""The benchmarks' simulator and the sweep workflow share one ladder model
(app.search.ladder): on the same seeded results they make the same decisions.

The workflow runs on the time-skipping server with the fake training activity, the
simulator in this process with the same value function; both propose through the real
sampler. Trials, configurations, results, statuses and every rung's entrants and survivors
must match exactly (the simulator at another wave lag than the service's does not, for tpe).
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from app.domain import CheckpointInfo, RungResult, SweepRequest, TrialMetrics, TrialResult
from app.search.ladder import LadderPlan
from app.search.sampler import propose
from benchmarks.common.ladder_driver import drive_ladder
from tests.workflows.fakes import FakeTraining, fake_accuracy, workers
from tests.workflows.test_sweep_workflows import make_request, run_sweep

LADDER = {
    "unit": "steps",
    "trials": 12,
    "rungs": [
        {"budget": 10, "keep": 4},
        {"budget": 30, "keep": 2, "new_trials": 2},
        {"budget": 90},
    ],
}


def as_the_fake_trains(trial: TrialResult, rung: int, budget: float) -> RungResult:
    """What FakeTraining's train_and_evaluate reports for this run."""
    step = int(budget)
    accuracy = fake_accuracy(float(trial.params["learning_rate"]), step)
    return RungResult(
        rung=rung,
        budget=budget,
        global_step=step,
        metrics=TrialMetrics(
            accuracy=accuracy, f1_macro=accuracy - 0.1, eval_loss=1.0 - accuracy, num_examples=80
        ),
        objective_value=accuracy,
        checkpoint=CheckpointInfo(path="-", step=step, epoch=0.0, rung=rung),
        train_seconds=0.0,
        eval_seconds=0.0,
    )


def decisions(trials: list[TrialResult], rungs: list[Any]) -> tuple[Any, ...]:
    return (
        [
            (
                t.trial_id,
                t.params,
                t.seed,
                t.status,
                [(r.rung, r.global_step, r.objective_value) for r in t.rungs],
            )
            for t in sorted(trials, key=lambda t: t.trial_index)
        ],
        [(r.rung, r.trial_ids, r.survivors) for r in rungs],
    )


@pytest.mark.parametrize(
    ("strategy", "concurrency", "seed"), [("tpe", 2, 7), ("tpe", 3, 11), ("random", 2, 7)]
)
async def test_simulator_and_workflow_make_the_same_decisions(
    env: WorkflowEnvironment, strategy: str, concurrency: int, seed: int
) -> None:
    request: SweepRequest = make_request(
        name="wf-model", ladder=LADDER, strategy=strategy, max_concurrency=concurrency, seed=seed
    )
    async with workers(env, FakeTraining(step_seconds=0.01)):
        _, result = await run_sweep(env, request)
    simulated = drive_ladder(LadderPlan.of(request), propose, as_the_fake_trains)

    assert decisions(result.trials, result.rungs) == decisions(
        list(simulated.trials.values()), simulated.rungs
    )
    assert len(result.trials) == 14 and result.best is not None
