"""A fast, in-process stand-in for the sweep workflow, driving the product's own search code.

``run_ladder`` makes the sweep workflow's decisions with the workflow's own bookkeeping
(``app.search.ladder`` through ``benchmarks.common.ladder_driver``): entrants, waves, what
each proposal sees, survivors; proposals come from ``app.search.sampler.propose`` as the
activity's do; the configuration the sweep would report at any moment is
``rungs.best_trial`` over all trials. Only the training is replaced: a trial's value at a rung
is the test function at fidelity budget / max_budget.

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
)
from app.domain.workflow_io import Observation, ProposeInput, SweepState
from app.search import rungs
from app.search import waves as waves_lib
from app.search.ladder import LadderPlan
from app.search.sampler import propose, to_distributions
from benchmarks.common.ladder_driver import drive_ladder
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
    """Budget units a trial pays to reach ``new_budget`` after having reached ``old_budget``
    (the references' accounting; the ladder's is ``app.search.ladder.run_cost``)."""
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


def _trained(rung: int, budget: float, value: float) -> RungResult:
    # The value is also the held-out loss: the tie-breaker, as a fine-tune's would be.
    metrics = TrialMetrics(accuracy=0.0, f1_macro=0.0, eval_loss=value, num_examples=0)
    return RungResult(
        rung=rung,
        budget=budget,
        global_step=int(budget),
        metrics=metrics,
        objective_value=value,
        checkpoint=_NO_CHECKPOINT,
        train_seconds=0.0,
        eval_seconds=0.0,
    )


def _returned_regret(fn: MFFunction, trials: dict[int, TrialResult]) -> float | None:
    best = rungs.best_trial([trials[i] for i in sorted(trials)], DIRECTION)
    return None if best is None else fn.regret(best.params)


# Wider than any rung: one wave per rung, proposed when it opens, seeing lower rungs only.
_ONE_WAVE = Waves(size=1 << 30, lag=1)


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
    rung's fresh trials wave by wave; None proposes every fresh trial when its rung opens (as
    ``random`` always does: its draws are independent of observations).
    ``stacked_fit``: TPE sees every trial once, ranked by ``stacked_observations``, instead
    of the one rung ``app.search.sampler.observations_for_fit`` picks.
    """
    shape = waves or _ONE_WAVE
    plan = LadderPlan(
        ladder=ladder,
        strategy=strategy,
        width=shape.size,
        direction=DIRECTION,
        space=fn.space,
        seed=sweep_seed,
        lag=shape.lag,
    )
    continuing, retraining = Curve(), Curve()
    spent = {"continuing": 0.0, "retraining": 0.0}

    def train(trial: TrialResult, rung: int, budget: float) -> RungResult:
        return _trained(rung, budget, fn.evaluate(trial.params, budget / ladder.max_budget))

    def observe(state: SweepState, trial: TrialResult, cost: float) -> None:
        budget = trial.rungs[-1].budget
        spent["continuing"] += cost
        spent["retraining"] += budget  # the seed: every promotion retrained from scratch
        regret = _returned_regret(fn, state.trials)
        continuing.add(spent["continuing"], regret)
        retraining.add(spent["retraining"], regret)

    def proposals(inp: ProposeInput) -> list[TrialConfig]:
        return propose(_stack(inp) if stacked_fit else inp)

    state = drive_ladder(plan, proposals, train, observe)
    return LadderRun(
        continuing=continuing,
        retraining=retraining,
        compute_continuing=spent["continuing"],
        compute_retraining=spent["retraining"],
        trials=[state.trials[i] for i in sorted(state.trials)],
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
