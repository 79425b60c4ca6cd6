"""Successive-halving rung decisions: pure, deterministic functions over domain types.

Workflows call these directly (no I/O, no randomness, no clocks), so their decisions replay
identically. A value is *usable* when it is a finite number; failed or cancelled trials, and
trials whose metric came out NaN or infinite, are never ranked, promoted or chosen as best.

Trials with the same objective value at a rung are ranked by their held-out loss, then by
trial index. Accuracy on a few hundred held-out examples ties often, and at small budgets
most of a rung can tie exactly (every model that still predicts the majority class scores
the majority's share), while the loss already tells the models that have begun to learn
from those that have not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from app.domain.request import Direction, Ladder
from app.domain.results import RungResult, TrialMetrics, TrialResult, TrialStatus

# Trials in these states keep whatever rung results they had, but never compete again.
EXCLUDED_STATUSES: frozenset[TrialStatus] = frozenset({TrialStatus.FAILED, TrialStatus.CANCELLED})


def is_usable(value: float | None) -> bool:
    """True when ``value`` can rank a trial: present and finite."""
    return value is not None and math.isfinite(value)


def rank_key(direction: Direction, value: float, trial_index: int) -> tuple[float, int]:
    """Sort key: best value first for ``direction``, then the lower trial index."""
    return (-value if direction == "maximize" else value, trial_index)


def rank(scores: Mapping[int, float | None], direction: Direction) -> list[int]:
    """Trial indices with a usable value, best first; ties broken by the lower trial index."""
    usable = [(index, value) for index, value in scores.items() if is_usable(value)]
    usable.sort(key=lambda item: rank_key(direction, _finite(item[1]), item[0]))
    return [index for index, _ in usable]


def top_k(scores: Mapping[int, float | None], k: int, direction: Direction) -> list[int]:
    """The (at most) ``k`` best trial indices, best first; unusable values never count."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    return rank(scores, direction)[:k]


def rung_value(trial: TrialResult, rung: int) -> float | None:
    """The trial's objective value at ``rung``; None if it has none there or failed/cancelled."""
    result = rung_result(trial, rung)
    return None if result is None else result.objective_value


def rung_scores(trials: Iterable[TrialResult], rung: int) -> dict[int, float | None]:
    """trial index -> objective value at ``rung`` (None when unusable), for ``rank``/``top_k``."""
    return {trial.trial_index: rung_value(trial, rung) for trial in trials}


def rung_result(trial: TrialResult, rung: int) -> RungResult | None:
    """The trial's result at ``rung`` when it can rank there (see ``rung_value``)."""
    if trial.status in EXCLUDED_STATUSES:
        return None
    for result in trial.rungs:
        if result.rung == rung and is_usable(result.objective_value):
            return result
    return None


def tie_breaker(metrics: TrialMetrics) -> float:
    """Second rank key after the objective: the held-out loss (lower first; unusable last)."""
    return metrics.eval_loss if is_usable(metrics.eval_loss) else math.inf


def rank_trials(
    trials: Sequence[TrialResult], rung: int, direction: Direction
) -> list[TrialResult]:
    """Trials with a usable result at ``rung``, best first: ties by held-out loss, then by
    trial index."""
    _refuse_duplicate_indices(trials)
    keyed: list[tuple[tuple[float, float, int], TrialResult]] = []
    for trial in trials:
        result = rung_result(trial, rung)
        if result is None:
            continue
        value, index = rank_key(direction, result.objective_value, trial.trial_index)
        keyed.append(((value, tie_breaker(result.metrics), index), trial))
    keyed.sort(key=lambda item: item[0])
    return [trial for _, trial in keyed]


def survivors_count(ladder: Ladder, rung: int, entrants: int) -> int:
    """How many of ``entrants`` trials at ``rung`` the ladder promotes (0 on the last rung)."""
    _check_rung(ladder, rung)
    if rung == len(ladder.rungs) - 1 or entrants <= 0:
        return 0
    return ladder.survivors(rung, entrants)


def select_survivors(
    ladder: Ladder,
    rung: int,
    entrants: Sequence[TrialResult],
    direction: Direction,
) -> list[TrialResult]:
    """The trials promoted out of a finished ``rung``, best first.

    ``entrants`` are all trials that entered the rung (failed and cancelled ones included):
    k = ``ladder.survivors(rung, len(entrants))``, so a failure does not shrink the plan, but
    only trials with a usable value at this rung can fill it. Fewer usable than k: all of them
    survive. The last rung promotes nobody.
    """
    k = survivors_count(ladder, rung, len(entrants))
    return rank_trials(entrants, rung, direction)[:k]


def new_trials_at(ladder: Ladder, rung: int) -> int:
    """Fresh configurations that join ``rung`` (``ladder.trials`` for rung 0)."""
    _check_rung(ladder, rung)
    return ladder.trials if rung == 0 else ladder.rungs[rung].new_trials


def rung_budget(ladder: Ladder, rung: int) -> float:
    """The cumulative budget every trial at ``rung`` trains up to."""
    _check_rung(ladder, rung)
    return ladder.rungs[rung].budget


def next_rung_entrants(ladder: Ladder, finished_rung: int, survivors: int) -> int:
    """Trials that train at ``finished_rung + 1``: the survivors plus that rung's new trials."""
    _check_rung(ladder, finished_rung)
    if finished_rung == len(ladder.rungs) - 1:
        return 0
    return survivors + ladder.rungs[finished_rung + 1].new_trials


def sweep_finished(ladder: Ladder, finished_rung: int, survivors: int) -> bool:
    """True when nothing is left to train after ``finished_rung``.

    That is: it was the last rung, or no trial survived it and the next rung brings no new
    trials of its own.
    """
    return next_rung_entrants(ladder, finished_rung, survivors) == 0


def highest_scored_rung(trials: Iterable[TrialResult]) -> int | None:
    """The highest rung at which some trial has a usable (and not failed/cancelled) result."""
    rungs = [
        result.rung
        for trial in trials
        if trial.status not in EXCLUDED_STATUSES
        for result in trial.rungs
        if is_usable(result.objective_value)
    ]
    return max(rungs) if rungs else None


def best_trial(trials: Sequence[TrialResult], direction: Direction) -> TrialResult | None:
    """The best trial of the highest rung reached (successive halving), ranked as
    ``rank_trials`` ranks.

    A trial that won a low rung is never preferred over one that trained further, however the
    raw numbers compare: budgets differ between rungs, so their values are not comparable.
    """
    top = highest_scored_rung(trials)
    if top is None:
        return None
    ranked = rank_trials(trials, top, direction)
    return ranked[0] if ranked else None


def _check_rung(ladder: Ladder, rung: int) -> None:
    if not 0 <= rung < len(ladder.rungs):
        raise IndexError(f"rung {rung} is outside the ladder's rungs 0..{len(ladder.rungs) - 1}")


def _finite(value: float | None) -> float:
    assert value is not None
    return value


def _refuse_duplicate_indices(trials: Sequence[TrialResult]) -> None:
    seen: set[int] = set()
    for trial in trials:
        if trial.trial_index in seen:
            raise ValueError(f"trial index {trial.trial_index} appears more than once")
        seen.add(trial.trial_index)
