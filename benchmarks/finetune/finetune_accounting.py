"""Pure bookkeeping of the fine-tuning comparison: the ladder both sides share, the training
steps a finished sweep spent, and per-side summaries. No torch, no Temporal: unit-tested."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from app.domain import SweepResult
from app.domain.request import Ladder, Rung


def ladder(trials: int, first_budget: int, rungs: int, eta: int, new_trials: int) -> Ladder:
    """Successive halving over ``rungs`` budgets first_budget * eta**k (in steps).

    Every later rung also brings ``new_trials`` fresh proposals (the last rung one): the
    product proposes configurations only at rung boundaries, so without them TPE would
    never see a result before every configuration is drawn, and the sweep would be random
    search with early stopping.
    """
    steps = [first_budget * eta**k for k in range(rungs)]
    last = rungs - 1
    return Ladder(
        unit="steps",
        trials=trials,
        reduction_factor=eta,
        rungs=[
            Rung(budget=budget, new_trials=0 if k == 0 else (1 if k == last else new_trials))
            for k, budget in enumerate(steps)
        ],
    )


def rung_steps(ladder: Ladder) -> list[int]:
    """The ladder's budgets as optimizer steps (the ladder counts in steps)."""
    if ladder.unit != "steps":
        raise ValueError("the comparison counts budgets in steps")
    return [int(rung.budget) for rung in ladder.rungs]


def planned_steps(ladder: Ladder) -> int:
    """Steps a ladder trains when no trial fails: promoted trials continue from their
    checkpoint (only the budget's increase), fresh ones train from zero."""
    budgets = rung_steps(ladder)
    entrants = ladder.entrants()
    total = entrants[0] * budgets[0]
    for k in range(1, len(budgets)):
        promoted = ladder.survivors(k - 1, entrants[k - 1])
        fresh = entrants[k] - promoted
        total += promoted * (budgets[k] - budgets[k - 1]) + fresh * budgets[k]
    return total


def trained_steps(result: SweepResult) -> int:
    """Steps a finished sweep trained, from its trials' rung results.

    A trial's rungs lie on one trajectory (a promotion resumes from the checkpoint), so the
    trial trained as many steps as the furthest global step it reported. A trial that
    failed before reporting any rung trained steps that no result records: not counted.
    """
    return sum(max((r.global_step for r in trial.rungs), default=0) for trial in result.trials)


def evaluations(result: SweepResult) -> int:
    """Held-out evaluations the sweep ran: one per rung result."""
    return sum(len(trial.rungs) for trial in result.trials)


def top_rung_best(result: SweepResult, top_rung: int) -> float:
    """Best held-out accuracy among the trials that reached the top rung (NaN if none)."""
    values = [
        r.metrics.accuracy
        for trial in result.trials
        for r in trial.rungs
        if r.rung == top_rung and math.isfinite(r.metrics.accuracy)
    ]
    return max(values, default=math.nan)


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    def text(self, digits: int = 4) -> str:
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}-{self.high:.{digits}f})"


def spread(values: Sequence[float]) -> Spread:
    """Median and range of the finite values (NaN when none is finite)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return Spread(math.nan, math.nan, math.nan)
    return Spread(statistics.median(finite), min(finite), max(finite))


def verdict(product: Spread, peer: Spread, majority: float) -> str:
    """The goal line. Medians at the majority class say nothing about the search: the model
    has not learnt yet at these budgets, whichever configuration is tried."""
    figures = (
        f"median best accuracy {product.median:.4f} against Optuna's {peer.median:.4f} "
        "at equal training steps"
    )
    if max(product.median, peer.median) <= majority + 1e-9:
        return f"not shown: {figures}, both at the majority class (the budgets are too small)"
    return f"{'yes' if product.median >= peer.median else 'no'}: {figures}"
