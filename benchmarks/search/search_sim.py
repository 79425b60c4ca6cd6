"""A fast, in-process stand-in for the sweep workflow, driving the product's own search code.

``run_ladder`` follows ``workers/workflows/sweep_engine.py`` step for step: at each rung, the
survivors of the last rung (best first) then the rung's fresh trial indices, proposed by
``app.search.sampler.propose`` with the same ``ProposeInput`` (sweep seed, new indices, born
rung, the observations and pending configs ``app.search.waves`` allows the wave, see
``Waves``); every entrant trains to the rung's budget; the
rung ends with ``rungs.select_survivors`` and ``rungs.sweep_finished``; the configuration the
sweep would report at any moment is ``rungs.best_trial`` over all trials. Only the training
is replaced: a trial's value at a rung is the test function at fidelity budget / max_budget.

Compute is counted in budget units. A promoted trial that continues from its checkpoint pays
only the difference between the new and the old budget; the seed's behaviour (every
promotion retrained from scratch) pays the whole new budget and makes the same decisions,
since a retrained trial reaches the same value. One ladder run therefore yields both curves.

``run_optuna_hyperband`` and ``run_random`` are the references, counted the same way.

Two options model a sweep that runs ``max_concurrency`` trials at once. ``Waves`` makes
``run_ladder`` propose a rung's fresh trials in waves, as the workflow does for ``tpe``, with the
same functions (``app.search.waves``): a wave's proposals see the results of the waves at least
``lag`` behind it (the workflow's lag is 2), and the fresh trials still in flight are passed to
the constant liar as pending. ``run_optuna_parallel`` runs Optuna with
that many trials in flight, in budget time, so both sides see results with the same delay.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import optuna

from app.domain.request import Direction, Ladder, Strategy
from app.domain.results import (
    CheckpointInfo,
    RungResult,
    TrialConfig,
    TrialMetrics,
    TrialResult,
    TrialStatus,
)
from app.domain.workflow_io import Observation, ProposeInput
from app.search import rungs
from app.search import waves as waves_lib
from app.search.sampler import propose, to_distributions
from benchmarks.search.mf_functions import MFFunction

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


@dataclass(frozen=True)
class Waves:
    """Fresh trials proposed ``size`` at a time (``size`` = the sweep's max_concurrency).

    Wave k is proposed when wave k - ``lag`` has finished: with ``lag`` 2 a free slot never
    waits for a barrier when trials take similar time; ``lag`` 1 is a barrier per wave.
    """

    size: int
    lag: int = waves_lib.LAG  # the workflow's; other lags are for experiments

    def __post_init__(self) -> None:
        if self.size < 1 or self.lag < 1:
            raise ValueError(f"wave size and lag must be >= 1, got {self.size}, {self.lag}")


@dataclass(frozen=True)
class WaveView:
    """What one wave of a rung's entrants knows when its fresh members are proposed."""

    members: tuple[int, ...]  # the entrants that start in this wave, in start order
    observed: tuple[int, ...]  # entrants of this rung whose result at the rung is known
    in_flight: tuple[int, ...]  # entrants of earlier waves still training at the rung


def wave_views(entrants: Sequence[int], waves: Waves) -> list[WaveView]:
    """The rung's entrants (in start order) cut into waves, with what each wave can see."""
    views = []
    for wave in range(waves_lib.wave_count(len(entrants), waves.size)):
        members = waves_lib.wave_members(entrants, waves.size, wave)
        seen = waves_lib.seen_entrants(entrants, waves.size, wave, lag=waves.lag)
        start = wave * waves.size
        views.append(
            WaveView(
                members=tuple(members),
                observed=tuple(seen),
                in_flight=tuple(entrants[len(seen) : start]),
            )
        )
    return views


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


def run_ladder(
    fn: MFFunction,
    ladder: Ladder,
    strategy: Strategy,
    sweep_seed: int,
    waves: Waves | None = None,
    stacked_fit: bool = False,
) -> LadderRun:
    """One sweep of ``ladder`` on ``fn``, proposals by ``strategy``, seeded by ``sweep_seed``.

    ``waves``: the workflow's rule for ``tpe`` (``Waves(size=max_concurrency)``), proposing a
    rung's fresh trials wave by wave through ``app.search.waves``; None proposes every fresh
    trial at the rung's boundary (the rule before waves, and ``random``'s rule: its draws are
    independent of observations, so both give the same trials).
    ``stacked_fit``: TPE sees every trial once, ranked by ``stacked_observations``, instead
    of the one rung ``app.search.sampler.observations_for_fit`` picks.
    """
    trials: dict[int, TrialResult] = {}
    continuing, retraining = Curve(), Curve()
    spent_continuing = spent_retraining = 0.0
    survivors: list[int] = []
    next_index = 0
    for rung in range(len(ladder.rungs)):
        fresh = list(range(next_index, next_index + rungs.new_trials_at(ladder, rung)))
        next_index += len(fresh)
        entrants = survivors + fresh
        budget = rungs.rung_budget(ladder, rung)
        # As the workflow: TPE proposes wave by wave, random once per rung.
        plan = Waves(size=max(1, len(entrants))) if waves is None or strategy != "tpe" else waves
        for wave in range(waves_lib.wave_count(len(entrants), plan.size)):
            if waves_lib.fresh_members(entrants, plan.size, wave, set(fresh)):
                inp = _wave_input(
                    fn, strategy, sweep_seed, rung, trials, entrants, wave, plan, set(fresh)
                )
                proposals = propose(_stack(inp) if stacked_fit else inp)
                for config in proposals:
                    trials[config.trial_index] = _pending_trial(config, rung)
            for index in waves_lib.wave_members(entrants, plan.size, wave):
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


def _wave_input(
    fn: MFFunction,
    strategy: Strategy,
    sweep_seed: int,
    rung: int,
    trials: dict[int, TrialResult],
    entrants: Sequence[int],
    wave: int,
    waves: Waves,
    born_here: set[int],
) -> ProposeInput:
    """The propose call for a wave's fresh trials, built as the workflow builds it.

    ``app.search.waves`` decides what the wave sees: results at this rung count only for the
    seen entrants (the simulator has already trained the wave's predecessors, but in the
    service they would still be running), and the fresh trials in between are pending.
    """
    size, lag = waves.size, waves.lag
    observations = waves_lib.wave_observations(
        _observations(trials), rung, entrants, size, wave, lag=lag
    )
    pending = waves_lib.pending_members(entrants, size, wave, born_here, lag=lag)
    return ProposeInput(
        space=fn.space,
        strategy=strategy,
        direction=DIRECTION,
        sweep_seed=sweep_seed,
        trial_indices=waves_lib.fresh_members(entrants, size, wave, born_here),
        born_rung=rung,
        observations=observations,
        pending=[trials[i].params for i in pending],
    )


def stacked_observations(observations: Sequence[Observation]) -> list[Observation]:
    """One observation per trial, all at rung 0, valued by its rank across rungs (0 = best).

    Trials are ranked as Optuna's TPE ranks pruned trials: the higher the rung a trial has a
    result at, the better, then by its value there (minimised) and its index. TPE uses values
    only to order trials, so ranks lose nothing, and every trial of the sweep informs the fit.
    """
    latest: dict[int, Observation] = {}
    for obs in observations:
        seen = latest.get(obs.trial_index)
        if seen is None or obs.rung > seen.rung:
            latest[obs.trial_index] = obs
    order = sorted(latest.values(), key=lambda o: (-o.rung, o.value, o.trial_index))
    return [o.model_copy(update={"rung": 0, "value": float(n)}) for n, o in enumerate(order)]


def _stack(inp: ProposeInput) -> ProposeInput:
    return inp.model_copy(update={"observations": stacked_observations(inp.observations)})


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
    fn: MFFunction,
    budgets: Sequence[float],
    total_compute: float,
    seed: int,
    study_name: str | None = None,
) -> Curve:
    """Optuna's TPESampler with the HyperbandPruner until ``total_compute`` is spent.

    The objective reports its value at each of ``budgets`` (the ladder's) and stops when the
    pruner says so; a trial runs on from where it was (Optuna's trials are not restarted), so
    it pays each budget increment once. Optuna returns its best *completed* trial.

    The HyperbandPruner puts a trial in a bracket by a hash of the study's name and the trial
    number; an unnamed study gets a random name, so pass ``study_name`` to repeat a run.
    """
    max_budget = budgets[-1]
    study = _hyperband_study(seed, budgets, study_name, constant_liar=False)
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


@dataclass
class _Running:
    """One Optuna trial on a worker: the next budget it trains to, and what it has reached."""

    trial: optuna.trial.Trial
    step: int  # index into the budgets of the increment now training
    reached: float = 0.0


def run_optuna_parallel(
    fn: MFFunction,
    budgets: Sequence[float],
    total_compute: float,
    seed: int,
    concurrency: int,
    study_name: str | None = None,
) -> Curve:
    """``run_optuna_hyperband`` with ``concurrency`` trials in flight, in budget time.

    Workers train one budget increment at a time (an increment of b budget units takes b
    time); the earliest to finish reports, and a worker whose trial ended (pruned or
    complete) asks for the next one. TPE uses the constant liar, so trials asked while others
    run are spread out; a trial is asked at the moment its worker frees up, seeing every
    result reported by then. New trials start while less than ``total_compute`` was spent.
    """
    max_budget = budgets[-1]
    study = _hyperband_study(seed, budgets, study_name, constant_liar=True)
    distributions = to_distributions(fn.space)
    curve = Curve()
    spent = 0.0
    best: float | None = None
    events: list[tuple[float, int, _Running]] = []  # (finish time, start order, worker's trial)
    order = itertools.count()

    def start(now: float) -> None:
        running = _Running(trial=study.ask(distributions), step=0)
        heapq.heappush(events, (now + budgets[0], next(order), running))

    for _ in range(concurrency):
        start(0.0)
    while events:
        now, _, running = heapq.heappop(events)
        budget = budgets[running.step]
        spent += training_cost(running.reached, budget, continue_from_checkpoint=True)
        running.reached = budget
        value = fn.evaluate(running.trial.params, budget / max_budget)
        running.trial.report(value, step=int(budget))
        ended = True
        if budget < max_budget and running.trial.should_prune():
            study.tell(running.trial, state=optuna.trial.TrialState.PRUNED)
        elif budget < max_budget:
            running.step += 1
            heapq.heappush(events, (now + budgets[running.step] - budget, next(order), running))
            ended = False
        else:
            study.tell(running.trial, value)
            regret = fn.regret(running.trial.params)
            best = regret if best is None else min(best, regret)
        curve.add(spent, best)
        if ended and spent < total_compute:
            start(now)
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


def _hyperband_study(
    seed: int, budgets: Sequence[float], study_name: str | None, *, constant_liar: bool
) -> optuna.Study:
    """Optuna TPE with the Hyperband pruner over the ladder's budgets (``constant_liar`` when
    trials are in flight at once)."""
    return optuna.create_study(
        study_name=study_name,
        direction=DIRECTION,
        sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=constant_liar),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=int(budgets[0]),
            max_resource=int(budgets[-1]),
            reduction_factor=_ratio(budgets),
        ),
    )
