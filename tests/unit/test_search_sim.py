"""The search-quality benchmark's test functions and its compute accounting (pure, fast)."""

from __future__ import annotations

import math
import random

import pytest

from app.domain.request import Ladder, Rung
from benchmarks.search.mf_functions import (
    BRANIN,
    BRANIN_MINIMISERS,
    BRANIN_OPTIMUM,
    HARTMANN6,
    HARTMANN6_MINIMISER,
    HARTMANN6_OPTIMUM,
    augmented_branin,
    augmented_hartmann6,
)
from benchmarks.search.search_quality import make_ladder
from benchmarks.search.search_sim import run_ladder, run_optuna_hyperband, run_random, training_cost


@pytest.mark.parametrize("x", BRANIN_MINIMISERS)
def test_branin_minimisers_reach_the_known_optimum(x: tuple[float, float]) -> None:
    assert augmented_branin(*x, 1.0) == pytest.approx(BRANIN_OPTIMUM, abs=1e-6)


def test_hartmann6_minimiser_reaches_the_known_optimum() -> None:
    assert augmented_hartmann6(HARTMANN6_MINIMISER, 1.0) == pytest.approx(
        HARTMANN6_OPTIMUM, abs=1e-6
    )


def test_lower_fidelity_moves_the_functions_away_from_their_optimum() -> None:
    assert augmented_branin(math.pi, 2.275, 1 / 27) > BRANIN_OPTIMUM + 0.1
    assert augmented_hartmann6(HARTMANN6_MINIMISER, 0.0) > HARTMANN6_OPTIMUM


def test_no_sampled_point_beats_the_optimum() -> None:
    rng = random.Random(0)
    for _ in range(2000):
        b = {"x1": rng.uniform(-5, 10), "x2": rng.uniform(0, 15)}
        h = {f"x{j}": rng.random() for j in range(1, 7)}
        assert BRANIN.regret(b) >= 0
        assert HARTMANN6.regret(h) >= 0


def test_continuing_pays_the_increment_and_retraining_the_whole_budget() -> None:
    assert training_cost(3.0, 9.0, continue_from_checkpoint=True) == 6.0
    assert training_cost(3.0, 9.0, continue_from_checkpoint=False) == 9.0
    assert training_cost(0.0, 1.0, continue_from_checkpoint=True) == 1.0


def test_plain_ladder_compute_continuing_versus_retraining() -> None:
    # 9 trials -> 3 -> 1 at budgets 1, 3, 9: 9*1 + 3*2 + 1*6 continuing, 9 + 9 + 9 retraining.
    ladder = Ladder(trials=9, reduction_factor=3, rungs=[Rung(budget=b) for b in (1, 3, 9)])
    run = run_ladder(BRANIN, ladder, "random", sweep_seed=1)
    assert run.compute_continuing == 21
    assert run.compute_retraining == 27
    # Same decisions, so the same returned configurations, only at different compute.
    assert [r for _, r in run.continuing.points] == [r for _, r in run.retraining.points]
    assert run.continuing.points[-1][0] == 21
    assert len(run.trials) == 9


def test_benchmark_ladder_costs_216_units_per_scale_with_continuation() -> None:
    run = run_ladder(BRANIN, make_ladder(1), "tpe", sweep_seed=0)
    # Retraining: 27*1 + 18*3 + 9*9 + 4*27 = 270.
    assert (run.compute_continuing, run.compute_retraining) == (216, 270)
    assert len(run.trials) == 27 + 9 + 3 + 1
    assert {t.rung for t in run.trials if t.status == "completed"} == {3}


def test_references_spend_the_common_budget() -> None:
    optuna_curve = run_optuna_hyperband(HARTMANN6, (1.0, 3.0, 9.0, 27.0), 216, seed=0)
    regrets = [r for _, r in optuna_curve.points]
    assert optuna_curve.points[-1][0] >= 216
    assert regrets == sorted(regrets, reverse=True)
    random_curve = run_random(HARTMANN6, 27.0, 216, seed=0)
    assert [c for c, _ in random_curve.points] == [27.0 * n for n in range(1, 9)]
    assert random_curve.at(26.0) is None
