"""The checkpoint-savings and service-overhead benchmarks' accounting: pure, no training."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.presets import preset
from benchmarks.common.spread import interleaved, median_ratio, spread
from benchmarks.finetune.step_ledger import (
    RungRun,
    ladder_entrants,
    planned_steps,
    ratio,
    steps_by_rung,
    total_steps,
)


def run(trial: int, rung: int, start: int, end: int) -> RungRun:
    return RungRun(trial_index=trial, rung=rung, start_step=start, end_step=end, accuracy=0.5)


def test_demo_ladder_plans_325_steps_continuing_and_450_from_scratch() -> None:
    ladder = preset("default").ladder
    budgets = [int(r.budget) for r in ladder.rungs]
    entrants = ladder_entrants(ladder.trials, [r.keep for r in ladder.rungs])
    assert budgets == [25, 75, 150]
    assert entrants == [6, 2, 1]
    # 6 x 25 + 2 x 50 + 1 x 75 against 6 x 25 + 2 x 75 + 1 x 150
    assert planned_steps(budgets, entrants, "continue") == 325
    assert planned_steps(budgets, entrants, "scratch") == 450


def test_steps_trained_are_counted_from_the_resume_point() -> None:
    runs = [run(0, 0, 0, 25), run(1, 0, 0, 25), run(0, 1, 25, 75), run(0, 2, 75, 150)]
    assert [r.steps_trained for r in runs] == [25, 25, 50, 75]
    assert total_steps(runs) == 175
    assert steps_by_rung(runs) == {0: 50, 1: 50, 2: 75}


def test_a_run_that_found_its_budget_reached_trained_nothing() -> None:
    assert run(0, 1, 75, 75).steps_trained == 0
    assert run(0, 1, 80, 75).steps_trained == 0


@given(
    budgets=st.lists(st.integers(1, 50), min_size=1, max_size=5).map(
        lambda steps: [sum(steps[: i + 1]) for i in range(len(steps))]
    ),
    trials=st.integers(1, 20),
)
def test_continuing_never_plans_more_steps_than_retraining(budgets: list[int], trials: int) -> None:
    entrants = [max(trials - i, 1) for i in range(len(budgets))]
    cont = planned_steps(budgets, entrants, "continue")
    scratch = planned_steps(budgets, entrants, "scratch")
    assert cont <= scratch
    # One rung: nothing is promoted, so nothing is saved.
    if len(budgets) == 1:
        assert cont == scratch


def test_planned_steps_needs_one_count_per_rung() -> None:
    with pytest.raises(ValueError):
        planned_steps([10, 30], [4], "continue")


def test_ratio_of_nothing_is_not_a_number() -> None:
    assert ratio(3, 4) == 0.75
    assert math.isnan(ratio(1, 0))


def test_spread_and_interleaving() -> None:
    s = spread([3.0, 1.0, 2.0])
    assert (s.median, s.low, s.high, s.count) == (2.0, 1.0, 3.0, 3)
    assert "range 1.0-3.0 s" in s.describe(" s")
    assert interleaved(["service", "bare"], 2) == ["service", "bare", "service", "bare"]
    assert median_ratio([2.0, 4.0, 6.0], [2.0, 2.0, 8.0]) == 2.0
    with pytest.raises(ValueError):
        spread([])
