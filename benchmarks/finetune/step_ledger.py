"""Accounting for the checkpoint-savings benchmark: which steps each run trained, and what a
ladder costs when promotions continue from checkpoints or retrain from scratch.

Pure functions only (no torch, no Temporal), so they are unit-tested on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Promotion = Literal["continue", "scratch"]


@dataclass(frozen=True)
class RungRun:
    """One (trial, rung) training run: it started at ``start_step`` (the checkpoint it resumed
    from, 0 for a fresh start) and reached ``end_step``."""

    trial_index: int
    rung: int
    start_step: int
    end_step: int
    accuracy: float

    @property
    def steps_trained(self) -> int:
        return max(self.end_step - self.start_step, 0)


def total_steps(runs: Sequence[RungRun]) -> int:
    return sum(run.steps_trained for run in runs)


def steps_by_rung(runs: Sequence[RungRun]) -> dict[int, int]:
    totals: dict[int, int] = {}
    for run in runs:
        totals[run.rung] = totals.get(run.rung, 0) + run.steps_trained
    return dict(sorted(totals.items()))


def planned_steps(budgets: Sequence[int], entrants: Sequence[int], promotion: Promotion) -> int:
    """Steps a ladder trains when every entrant of rung i runs to ``budgets[i]``.

    Continuing, an entrant promoted into rung i trains only ``budgets[i] - budgets[i-1]`` more
    steps; retrained from scratch it trains all ``budgets[i]``. Every entrant beyond rung 0 is
    taken to be a promoted one (ladders whose later rungs add fresh trials are counted by
    ``total_steps`` over the runs instead).
    """
    if len(budgets) != len(entrants):
        raise ValueError("one entrant count per rung")
    total = 0
    previous = 0
    for budget, count in zip(budgets, entrants, strict=True):
        per_trial = budget - previous if promotion == "continue" else budget
        total += count * per_trial
        previous = budget
    return total


def ladder_entrants(trials: int, keeps: Sequence[int | None]) -> list[int]:
    """Entrants per rung of a ladder whose rung i keeps ``keeps[i]`` (None on the last)."""
    entrants = [trials]
    for keep in keeps[:-1]:
        if keep is None:
            raise ValueError("every rung but the last needs a keep count here")
        entrants.append(min(keep, entrants[-1]))
    return entrants


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")
