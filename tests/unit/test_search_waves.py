"""Bookkeeping of the waved ladder and of Optuna with trials in flight (simulator only)."""

from __future__ import annotations

import pytest

from app.domain.workflow_io import Observation
from benchmarks.search.mf_functions import BRANIN
from benchmarks.search.search_quality import BUDGETS, make_ladder
from benchmarks.search.search_sim import (
    Waves,
    run_ladder,
    run_optuna_hyperband,
    run_optuna_parallel,
    stacked_observations,
    wave_views,
)


def test_lag_two_sees_the_waves_two_behind_and_holds_the_last_one_in_flight() -> None:
    views = wave_views(list(range(10)), Waves(size=3, lag=2))
    assert [v.members for v in views] == [(0, 1, 2), (3, 4, 5), (6, 7, 8), (9,)]
    assert [v.observed for v in views] == [(), (), (0, 1, 2), (0, 1, 2, 3, 4, 5)]
    assert [v.in_flight for v in views] == [(), (0, 1, 2), (3, 4, 5), (6, 7, 8)]


def test_lag_one_is_a_barrier_per_wave() -> None:
    views = wave_views([7, 8, 20, 21, 22], Waves(size=2, lag=1))
    assert [v.observed for v in views] == [(), (7, 8), (7, 8, 20, 21)]
    assert all(v.in_flight == () for v in views)


def test_every_entrant_starts_in_exactly_one_wave() -> None:
    entrants = list(range(50, 87))
    for waves in (Waves(4, 1), Waves(4, 2), Waves(16, 3), Waves(1, 1)):
        views = wave_views(entrants, waves)
        assert [i for v in views for i in v.members] == entrants
        for v in views:
            # What a wave sees or waits for started before it, and nothing is both.
            assert not set(v.observed) & set(v.in_flight)
            assert list(v.observed + v.in_flight) == entrants[: entrants.index(v.members[0])]


def test_bad_waves_are_refused() -> None:
    with pytest.raises(ValueError):
        Waves(size=0)
    with pytest.raises(ValueError):
        Waves(size=4, lag=0)


def test_one_wave_per_rung_is_the_workflow_proposal() -> None:
    # A wave as large as the rung, seeing nothing of it: the boundary proposal of today.
    ladder = make_ladder(1)
    now = run_ladder(BRANIN, ladder, "tpe", sweep_seed=3)
    waved = run_ladder(BRANIN, ladder, "tpe", sweep_seed=3, waves=Waves(size=1000, lag=1))
    assert waved.trials == now.trials
    assert waved.continuing.points == now.continuing.points


def test_waves_change_the_proposals_but_not_the_compute() -> None:
    ladder = make_ladder(1)
    now = run_ladder(BRANIN, ladder, "tpe", sweep_seed=3)
    waved = run_ladder(BRANIN, ladder, "tpe", sweep_seed=3, waves=Waves(size=4, lag=2))
    assert waved.compute_continuing == now.compute_continuing == 216
    assert [t.params for t in waved.trials] != [t.params for t in now.trials]
    # The first two waves see nothing yet: the same seeded random draws as today.
    assert [t.params for t in waved.trials[:8]] == [t.params for t in now.trials[:8]]


def test_one_optuna_trial_in_flight_is_the_sequential_run() -> None:
    sequential = run_optuna_hyperband(BRANIN, BUDGETS, 300, seed=2, study_name="s")
    parallel = run_optuna_parallel(BRANIN, BUDGETS, 300, seed=2, concurrency=1, study_name="s")
    # The parallel run also records the increments between completions; compare as curves.
    assert all(parallel.at(x) == r for x, r in sequential.points)


def test_optuna_in_flight_spends_the_budget_and_never_gets_worse() -> None:
    curve = run_optuna_parallel(BRANIN, BUDGETS, 300, seed=2, concurrency=4, study_name="s")
    regrets = [r for _, r in curve.points]
    assert regrets == sorted(regrets, reverse=True)
    assert curve.points[-1][0] >= 300
    assert [c for c, _ in curve.points] == sorted(c for c, _ in curve.points)


def test_stacked_observations_rank_higher_rungs_first_then_by_value() -> None:
    def obs(index: int, rung: int, value: float) -> Observation:
        return Observation(trial_index=index, params={"x1": 0.0, "x2": 0.0}, rung=rung, value=value)

    stacked = stacked_observations(
        [obs(0, 0, 5.0), obs(0, 1, 9.0), obs(1, 0, 1.0), obs(2, 0, 3.0), obs(3, 1, 2.0)]
    )
    # Trials 3 and 0 reached rung 1 (3 is better there), then 1 and 2 by their rung-0 values.
    assert [(o.trial_index, o.value) for o in stacked] == [(3, 0.0), (0, 1.0), (1, 2.0), (2, 3.0)]
    assert {o.rung for o in stacked} == {0}
