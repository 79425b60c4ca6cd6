"""Rung decisions and the slot scheduler: pure functions, no Temporal."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import (
    CheckpointInfo,
    Ladder,
    RungResult,
    TrialMetrics,
    TrialResult,
    TrialStatus,
)
from app.domain.request import Direction
from app.search import (
    best_trial,
    new_trials_at,
    next_rung_entrants,
    rank,
    rung_budget,
    select_survivors,
    survivors_count,
    sweep_finished,
    top_k,
)

DIRECTIONS: list[Direction] = ["maximize", "minimize"]


def rung_result(rung: int, value: float, eval_loss: float = 1.0) -> RungResult:
    return RungResult(
        rung=rung,
        budget=float(10 * (rung + 1)),
        global_step=10 * (rung + 1),
        metrics=TrialMetrics(accuracy=0.5, f1_macro=0.5, eval_loss=eval_loss, num_examples=10),
        objective_value=value,
        checkpoint=CheckpointInfo(path=f"/ckpt/{rung}", step=10 * (rung + 1), epoch=0.1, rung=rung),
        train_seconds=1.0,
        eval_seconds=0.1,
    )


def trial(
    index: int,
    values: dict[int, float] | None = None,
    status: TrialStatus = TrialStatus.RUNNING,
) -> TrialResult:
    """A trial with the given objective value per rung (none: it has no result yet)."""
    values = values or {}
    return TrialResult(
        trial_id=f"t{index:04d}",
        trial_index=index,
        params={"learning_rate": 1e-4},
        seed=index,
        status=status,
        rung=max(values, default=0),
        objective_value=values[max(values)] if values else None,
        rungs=[rung_result(r, v) for r, v in sorted(values.items())],
    )


def ladder(**kwargs: Any) -> Ladder:
    return Ladder.model_validate(kwargs)


def indices(trials: list[TrialResult]) -> list[int]:
    return [t.trial_index for t in trials]


# --- ranking and survivors ---------------------------------------------------------------


def test_rank_maximize_and_minimize() -> None:
    scores: dict[int, float | None] = {0: 0.5, 1: 0.9, 2: 0.1, 3: 0.7}
    assert rank(scores, "maximize") == [1, 3, 0, 2]
    assert rank(scores, "minimize") == [2, 0, 3, 1]


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_rank_ties_broken_by_lower_index(direction: Direction) -> None:
    scores: dict[int, float | None] = {
        7: 0.5,
        3: 0.5,
        5: 0.5,
        1: 0.2 if direction == "maximize" else 0.8,
    }
    assert rank(scores, direction) == [3, 5, 7, 1]


def test_rank_drops_missing_and_non_finite_values() -> None:
    scores: dict[int, float | None] = {0: None, 1: math.nan, 2: 0.3, 3: math.inf, 4: 0.6}
    assert rank(scores, "maximize") == [4, 2]
    assert top_k(scores, 5, "minimize") == [2, 4]
    with pytest.raises(ValueError):
        top_k(scores, -1, "maximize")


@pytest.mark.parametrize(
    ("direction", "expected"), [("maximize", [4, 1, 2]), ("minimize", [0, 3, 5])]
)
def test_select_survivors_top_k_by_direction(direction: Direction, expected: list[int]) -> None:
    lad = ladder(trials=6, rungs=[{"budget": 10, "keep": 3}, {"budget": 20}])
    values = [0.1, 0.8, 0.5, 0.2, 0.9, 0.3]
    entrants = [trial(i, {0: v}) for i, v in enumerate(values)]
    assert indices(select_survivors(lad, 0, entrants, direction)) == expected


def test_select_survivors_with_reduction_factor() -> None:
    lad = ladder(trials=9, reduction_factor=3, rungs=[{"budget": 10}, {"budget": 30}])
    entrants = [trial(i, {0: float(i)}) for i in range(9)]
    assert indices(select_survivors(lad, 0, entrants, "maximize")) == [8, 7, 6]


def test_failed_and_cancelled_trials_never_survive() -> None:
    lad = ladder(trials=4, rungs=[{"budget": 10, "keep": 2}, {"budget": 20}])
    entrants = [
        # Had a (great) rung-0 result, then failed or was cancelled: still never promoted.
        trial(0, {0: 0.99}, TrialStatus.FAILED),
        trial(1, {0: 0.98}, TrialStatus.CANCELLED),
        trial(2, {0: 0.40}),
        trial(3, {0: 0.30}),
    ]
    assert indices(select_survivors(lad, 0, entrants, "maximize")) == [2, 3]


def test_fewer_valid_results_than_k_only_valid_survive() -> None:
    lad = ladder(trials=5, rungs=[{"budget": 10, "keep": 3}, {"budget": 20}])
    entrants = [
        trial(0, {}, TrialStatus.FAILED),
        trial(1, {0: 0.5}),
        trial(2, {}, TrialStatus.FAILED),
        trial(3, {0: math.nan}),
        trial(4, {}),  # never produced a result at this rung
    ]
    assert indices(select_survivors(lad, 0, entrants, "maximize")) == [1]
    nobody = [trial(i, {}, TrialStatus.FAILED) for i in range(5)]
    assert select_survivors(lad, 0, nobody, "maximize") == []


def test_k_counts_failed_entrants() -> None:
    # 8 entered with eta=2: four survive even though two failed (the plan does not shrink).
    lad = ladder(trials=8, reduction_factor=2, rungs=[{"budget": 10}, {"budget": 20}])
    entrants = [trial(i, {0: float(i)}) for i in range(6)]
    entrants += [trial(6, {}, TrialStatus.FAILED), trial(7, {}, TrialStatus.FAILED)]
    assert indices(select_survivors(lad, 0, entrants, "maximize")) == [5, 4, 3, 2]


def test_survivors_use_only_this_rungs_values() -> None:
    lad = ladder(
        trials=3, rungs=[{"budget": 10, "keep": 2}, {"budget": 20, "keep": 1}, {"budget": 40}]
    )
    entrants = [trial(0, {0: 0.9, 1: 0.1}), trial(1, {0: 0.1, 1: 0.8}), trial(2, {0: 0.5, 1: 0.5})]
    assert indices(select_survivors(lad, 1, entrants, "maximize")) == [1]


def test_last_rung_promotes_nobody() -> None:
    lad = ladder(trials=2, rungs=[{"budget": 10, "keep": 1}, {"budget": 20}])
    assert select_survivors(lad, 1, [trial(0, {1: 0.5})], "maximize") == []
    assert survivors_count(lad, 1, 1) == 0


values_strategy = st.one_of(
    st.none(),
    st.sampled_from([math.nan, math.inf]),
    st.floats(min_value=-5, max_value=5, allow_nan=False).map(lambda v: round(v, 1)),
)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(values_strategy, min_size=1, max_size=12),
    failed=st.lists(st.booleans(), min_size=12, max_size=12),
    keep=st.integers(min_value=1, max_value=12),
    direction=st.sampled_from(DIRECTIONS),
    data=st.data(),
)
def test_survivors_property(
    values: list[float | None],
    failed: list[bool],
    keep: int,
    direction: Direction,
    data: st.DataObject,
) -> None:
    n = len(values)
    keep = min(keep, n)
    lad = ladder(trials=n, rungs=[{"budget": 10, "keep": keep}, {"budget": 20}])
    entrants = [
        trial(
            i, {} if v is None else {0: v}, TrialStatus.FAILED if failed[i] else TrialStatus.RUNNING
        )
        for i, v in enumerate(values)
    ]
    chosen = select_survivors(lad, 0, entrants, direction)
    eligible = [
        (i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v) and not failed[i]
    ]
    assert len(chosen) == min(keep, len(eligible))
    sign = -1.0 if direction == "maximize" else 1.0
    expected = sorted(eligible, key=lambda iv: (sign * iv[1], iv[0]))[:keep]
    assert indices(chosen) == [i for i, _ in expected]
    # Same inputs in any order: same survivors.
    shuffled = data.draw(st.permutations(entrants))
    assert indices(select_survivors(lad, 0, shuffled, direction)) == indices(chosen)


# --- best trial ----------------------------------------------------------------------------


def test_best_trial_is_best_of_highest_rung_reached() -> None:
    trials = [
        trial(0, {0: 0.95}, TrialStatus.PRUNED),  # best number overall, but only rung 0
        trial(1, {0: 0.80, 1: 0.70}, TrialStatus.COMPLETED),
        trial(2, {0: 0.85, 1: 0.75}, TrialStatus.COMPLETED),
    ]
    best = best_trial(trials, "maximize")
    assert best is not None and best.trial_index == 2
    best_min = best_trial(trials, "minimize")
    assert best_min is not None and best_min.trial_index == 1


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_ties_at_a_rung_are_ranked_by_held_out_loss_then_index(direction: Direction) -> None:
    """Most of a rung at the majority class's accuracy: the lower loss goes first."""
    losses = {0: 1.09, 1: 1.04, 2: math.nan, 3: 1.04, 4: 1.01}
    tied = [
        trial(i, {}).model_copy(update={"rungs": [rung_result(0, 0.415, loss)]})
        for i, loss in losses.items()
    ]
    other = 0.9 if direction == "maximize" else 0.1
    leader = trial(5, {0: other})
    entrants = [*tied, leader]
    lad = ladder(trials=6, rungs=[{"budget": 10, "keep": 4}, {"budget": 20}])
    # Best value first; then the lowest loss (4), equal losses by index (1, 3); NaN loss last.
    assert indices(select_survivors(lad, 0, entrants, direction)) == [5, 4, 1, 3]


def test_best_trial_ties_by_index_and_skips_failed() -> None:
    trials = [
        trial(3, {0: 0.5, 1: 0.6}, TrialStatus.COMPLETED),
        trial(1, {0: 0.5, 1: 0.6}, TrialStatus.COMPLETED),
        trial(0, {0: 0.9, 1: 0.99, 2: 0.99}, TrialStatus.FAILED),
    ]
    best = best_trial(trials, "maximize")
    assert best is not None and best.trial_index == 1
    assert best_trial([], "maximize") is None
    assert best_trial([trial(0, {}, TrialStatus.FAILED)], "maximize") is None


# --- ladder arithmetic ---------------------------------------------------------------------


def test_ladder_entrants_and_budgets() -> None:
    lad = ladder(
        trials=8,
        reduction_factor=2,
        rungs=[{"budget": 50}, {"budget": 100, "new_trials": 2}, {"budget": 200, "keep": None}],
    )
    assert lad.entrants() == [8, 4 + 2, 3]
    assert [new_trials_at(lad, r) for r in range(3)] == [8, 2, 0]
    assert [rung_budget(lad, r) for r in range(3)] == [50, 100, 200]
    assert survivors_count(lad, 0, 8) == 4
    assert survivors_count(lad, 1, 6) == 3
    assert survivors_count(lad, 0, 1) == 1  # never fewer than one with eta
    assert next_rung_entrants(lad, 0, 4) == 6
    assert next_rung_entrants(lad, 2, 3) == 0
    with pytest.raises(IndexError):
        rung_budget(lad, 3)


def test_ladder_entrants_with_keep() -> None:
    lad = ladder(trials=10, rungs=[{"budget": 1}, {"budget": 2}, {"budget": 4}], reduction_factor=3)
    assert lad.entrants() == [10, 3, 1]
    lad = ladder(
        trials=10,
        rungs=[{"budget": 1, "keep": 5}, {"budget": 2, "keep": 1, "new_trials": 3}, {"budget": 4}],
    )
    assert lad.entrants() == [10, 8, 1]
    assert lad.total_trials == 13


def test_sweep_finished() -> None:
    lad = ladder(
        trials=4,
        rungs=[
            {"budget": 10, "keep": 2},
            {"budget": 20, "keep": 1, "new_trials": 1},
            {"budget": 40},
        ],
    )
    assert not sweep_finished(lad, 0, 2)
    assert not sweep_finished(lad, 0, 0)  # rung 1 still brings a new trial of its own
    assert sweep_finished(lad, 1, 0)  # nobody survived and rung 2 brings nobody new
    assert not sweep_finished(lad, 1, 1)
    assert sweep_finished(lad, 2, 0)
