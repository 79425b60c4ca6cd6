"""The fine-tuning comparison's bookkeeping: ladder shape, planned and trained steps."""

from __future__ import annotations

import math

from app.domain import (
    CheckpointInfo,
    RungResult,
    SweepResult,
    SweepStatus,
    TrialMetrics,
    TrialResult,
    TrialStatus,
)
from benchmarks.finetune.finetune_accounting import (
    evaluations,
    ladder,
    planned_steps,
    rung_steps,
    spread,
    top_rung_best,
    trained_steps,
    verdict,
)


def rung_result(rung: int, step: int, accuracy: float) -> RungResult:
    metrics = TrialMetrics(accuracy=accuracy, f1_macro=0.0, eval_loss=1.0, num_examples=10)
    return RungResult(
        rung=rung,
        budget=step,
        global_step=step,
        metrics=metrics,
        objective_value=accuracy,
        checkpoint=CheckpointInfo(path=f"/c/{step}", step=step, epoch=0.0, rung=rung),
        train_seconds=1.0,
        eval_seconds=0.1,
    )


def trial(index: int, *rungs: RungResult) -> TrialResult:
    return TrialResult(
        trial_id=f"t{index:04d}",
        trial_index=index,
        params={},
        seed=index,
        status=TrialStatus.COMPLETED,
        rung=max((r.rung for r in rungs), default=0),
        rungs=list(rungs),
    )


def sweep(*trials: TrialResult) -> SweepResult:
    return SweepResult(
        sweep_id="s",
        name="s",
        status=SweepStatus.COMPLETED,
        metric="accuracy",
        direction="maximize",
        trials=list(trials),
    )


def test_ladder_with_fresh_trials_at_later_rungs() -> None:
    shape = ladder(trials=9, first_budget=30, rungs=3, eta=3, new_trials=3)
    assert rung_steps(shape) == [30, 90, 270]
    assert [r.new_trials for r in shape.rungs] == [0, 3, 1]
    assert shape.entrants() == [9, 6, 3]
    # 9 x 30 from zero; 3 promoted x 60 more + 3 fresh x 90; 2 promoted x 180 + 1 fresh x 270.
    assert planned_steps(shape) == 270 + 180 + 270 + 360 + 270


def test_planned_steps_of_plain_successive_halving() -> None:
    shape = ladder(trials=3, first_budget=20, rungs=2, eta=3, new_trials=0)
    # The last rung always brings one fresh trial.
    assert shape.entrants() == [3, 2]
    assert planned_steps(shape) == 3 * 20 + 1 * 40 + 1 * 60


def test_trained_steps_count_a_continued_trial_once() -> None:
    result = sweep(
        trial(0, rung_result(0, 30, 0.5), rung_result(1, 90, 0.6)),  # promoted: 90 steps
        trial(1, rung_result(0, 30, 0.4)),
        trial(2, rung_result(1, 90, 0.55)),  # fresh at rung 1
        trial(3),  # failed before any result
    )
    assert trained_steps(result) == 90 + 30 + 90
    assert evaluations(result) == 4
    assert top_rung_best(result, top_rung=1) == 0.6
    assert math.isnan(top_rung_best(result, top_rung=2))


def test_spread_ignores_nan() -> None:
    s = spread([0.5, math.nan, 0.7, 0.6])
    assert (s.median, s.low, s.high) == (0.6, 0.5, 0.7)
    assert math.isnan(spread([math.nan]).median)


def test_verdict_calls_a_tie_at_the_majority_class_unshown() -> None:
    at_majority = spread([0.415, 0.415, 0.5])
    assert verdict(at_majority, spread([0.415]), majority=0.415).startswith("not shown")
    assert verdict(spread([0.55]), spread([0.5]), majority=0.415).startswith("yes")
    assert verdict(spread([0.45]), spread([0.5]), majority=0.415).startswith("no")
