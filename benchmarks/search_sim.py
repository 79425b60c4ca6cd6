"""A fast, in-process stand-in for the sweep workflow, driving the product's own search code.

``run_ladder`` follows ``workers/workflows/sweep_engine.py`` step for step: at each rung, the
survivors of the last rung (best first) then the rung's fresh trial indices, proposed by
``app.search.sampler.propose`` with the same ``ProposeInput`` (sweep seed, new indices, born
rung, every (trial, rung) observation so far); every entrant trains to the rung's budget; the
rung ends with ``rungs.select_survivors`` and ``rungs.sweep_finished``; the configuration the
sweep would report at any moment is ``rungs.best_trial`` over all trials. Only the training
is replaced: a trial's value at a rung is the test function at fidelity budget / max_budget.

Compute is counted in budget units. A promoted trial that continues from its checkpoint pays
only the difference between the new and the old budget; the seed's behaviour (every
promotion retrained from scratch) pays the whole new budget and makes the same decisions,
since a retrained trial reaches the same value. One ladder run therefore yields both curves.

``run_optuna_hyperband`` and ``run_random`` are the references, counted the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import optuna

from app.domain.jobs import Observation, ProposeInput
from app.domain.request import Direction, Ladder, Strategy
from app.domain.results import (
    CheckpointInfo,
    RungResult,
    TrialConfig,
    TrialMetrics,
    TrialResult,
    TrialStatus,
)
from app.search import rungs
from app.search.sampler import propose, to_distributions
from benchmarks.mf_functions import MFFunction

DIRECTION: Direction = "minimize"

# Nothing here is read back (no metric but the objective is used); RungResult requires them.
_NO_CHECKPOINT = CheckpointInfo(path="-", step=0, epoch=0.0, rung=0)


@dataclass
class Curve:
    """What a strategy would return as compute is spent: (compute used, its simple regret)."""

    points: list[tuple[float, float]] = field(default_factory=list)

    def add(self, compute: float, regret: float | None) -> None:
        if regret is not None:
            self.points.append((compute, regret))

    def at(self, compute: float) -> float | None:
        """Regret of the configuration returned once ``compute`` was spent (None: nothing yet)."""
        value = None
        for spent, regret in self.points:
            if spent > compute:
                break
            value = regret
        return value


@dataclass
class LadderRun:
    continuing: Curve  # this product: promotions continue from their checkpoints
    retraining: Curve  # the seed: promotions retrained from scratch
    compute_continuing: float
    compute_retraining: float
    trials: list[TrialResult]


def training_cost(old_budget: float, new_budget: float, *, continue_from_checkpoint: bool) -> float:
    """Budget units a trial pays to reach ``new_budget`` after having reached ``old_budget``."""
    return new_budget - old_budget if continue_from_checkpoint else new_budget


def _observations(trials: dict[int, TrialResult]) -> list[Observation]:
    # As SweepEngine._observations: every finished (trial, rung) result so far.
    return [
        Observation(
            trial_index=t.trial_index, params=t.params, rung=r.rung, value=r.objective_value
        )
        for t in trials.values()
        for r in t.rungs
    ]


def _pending_trial(config: TrialConfig, rung: int) -> TrialResult:
    return TrialResult(
        trial_id=config.trial_id,
        trial_index=config.trial_index,
        params=config.params,
        seed=config.seed,
        status=TrialStatus.PENDING,
        rung=rung,
    )


def _trained(trial: TrialResult, rung: int, budget: float, value: float) -> TrialResult:
    metrics = TrialMetrics(accuracy=0.0, f1_macro=0.0, eval_loss=value, num_examples=0)
    result = RungResult(
        rung=rung,
        budget=budget,
        global_step=int(budget),
        metrics=metrics,
        objective_value=value,
        checkpoint=_NO_CHECKPOINT,
        train_seconds=0.0,
        eval_seconds=0.0,
    )
    return trial.model_copy(
        update={
            "status": TrialStatus.RUNG_DONE,
            "rung": rung,
            "objective_value": value,
            "rungs": [*trial.rungs, result],
        }
    )


def _returned_regret(fn: MFFunction, trials: dict[int, TrialResult]) -> float | None:
    best = rungs.best_trial([trials[i] for i in sorted(trials)], DIRECTION)
    return None if best is None else fn.regret(best.params)


def run_ladder(fn: MFFunction, ladder: Ladder, strategy: Strategy, sweep_seed: int) -> LadderRun:
    """One sweep of ``ladder`` on ``fn``, proposals by ``strategy``, seeded by ``sweep_seed``."""
    trials: dict[int, TrialResult] = {}
    continuing, retraining = Curve(), Curve()
    spent_continuing = spent_retraining = 0.0
    survivors: list[int] = []
    next_index = 0
    for rung in range(len(ladder.rungs)):
        fresh = list(range(next_index, next_index + rungs.new_trials_at(ladder, rung)))
        if fresh:
            proposals = propose(
                ProposeInput(
                    space=fn.space,
                    strategy=strategy,
                    direction=DIRECTION,
                    sweep_seed=sweep_seed,
                    trial_indices=fresh,
                    born_rung=rung,
                    observations=_observations(trials),
                )
            )
            for config in proposals:
                trials[config.trial_index] = _pending_trial(config, rung)
            next_index += len(fresh)
        budget = rungs.rung_budget(ladder, rung)
        entrants = survivors + fresh
        for index in entrants:
            trial = trials[index]
            old = trial.rungs[-1].budget if trial.rungs else 0.0
            spent_continuing += training_cost(old, budget, continue_from_checkpoint=True)
            spent_retraining += training_cost(old, budget, continue_from_checkpoint=False)
            value = fn.evaluate(trial.params, budget / ladder.max_budget)
            trials[index] = _trained(trial, rung, budget, value)
            regret = _returned_regret(fn, trials)
            continuing.add(spent_continuing, regret)
            retraining.add(spent_retraining, regret)
        chosen = rungs.select_survivors(ladder, rung, [trials[i] for i in entrants], DIRECTION)
        survivors = [t.trial_index for t in chosen]
        _close_rung(trials, entrants, set(survivors), last=rung == len(ladder.rungs) - 1)
        if rungs.sweep_finished(ladder, rung, len(survivors)):
            break
    return LadderRun(
        continuing=continuing,
        retraining=retraining,
        compute_continuing=spent_continuing,
        compute_retraining=spent_retraining,
        trials=[trials[i] for i in sorted(trials)],
    )


def _close_rung(
    trials: dict[int, TrialResult], entrants: Sequence[int], survivors: set[int], last: bool
) -> None:
    # As SweepEngine._finish_rung: survivors wait for the next rung, the others stop here.
    for index in entrants:
        if index in survivors:
            status = TrialStatus.PENDING
        else:
            status = TrialStatus.COMPLETED if last else TrialStatus.PRUNED
        trials[index] = trials[index].model_copy(update={"status": status})


def run_optuna_hyperband(
    fn: MFFunction, budgets: Sequence[float], total_compute: float, seed: int
) -> Curve:
    """Optuna's TPESampler with the HyperbandPruner until ``total_compute`` is spent.

    The objective reports its value at each of ``budgets`` (the ladder's) and stops when the
    pruner says so; a trial runs on from where it was (Optuna's trials are not restarted), so
    it pays each budget increment once. Optuna returns its best *completed* trial.
    """
    max_budget = budgets[-1]
    study = optuna.create_study(
        direction=DIRECTION,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=int(budgets[0]),
            max_resource=int(max_budget),
            reduction_factor=_ratio(budgets),
        ),
    )
    distributions = to_distributions(fn.space)
    curve = Curve()
    spent = 0.0
    best: float | None = None
    while spent < total_compute:
        trial = study.ask(distributions)
        old, value, pruned = 0.0, float("nan"), False
        for budget in budgets:
            spent += training_cost(old, budget, continue_from_checkpoint=True)
            old = budget
            value = fn.evaluate(trial.params, budget / max_budget)
            trial.report(value, step=int(budget))
            if budget < max_budget and trial.should_prune():
                pruned = True
                break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
            regret = fn.regret(trial.params)
            best = regret if best is None else min(best, regret)
        curve.add(spent, best)
    return curve


def run_random(fn: MFFunction, max_budget: float, total_compute: float, seed: int) -> Curve:
    """Plain random search, every trial trained to ``max_budget``; returns the best so far."""
    count = int(total_compute // max_budget)
    configs = propose(
        ProposeInput(
            space=fn.space,
            strategy="random",
            direction=DIRECTION,
            sweep_seed=seed,
            trial_indices=list(range(count)),
        )
    )
    curve = Curve()
    best: float | None = None
    for n, config in enumerate(configs, start=1):
        regret = fn.regret(config.params)
        best = regret if best is None else min(best, regret)
        curve.add(n * max_budget, best)
    return curve


def _ratio(budgets: Sequence[float]) -> int:
    ratios = {round(b / a) for a, b in itertools.pairwise(budgets)}
    if len(ratios) != 1:
        raise ValueError(f"budgets {list(budgets)} are not a geometric ladder")
    return ratios.pop()
