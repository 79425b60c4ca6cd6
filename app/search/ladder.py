"""The ladder's bookkeeping, once: entrants, waves, what each proposal sees, survivors and
compute spent, as pure functions over a ``SweepState``.

The sweep workflow (``workers.workflows.engine``) and every simulator under ``benchmarks/``
call these, so a simulation makes the decisions the service makes on the same results; only
how a run's result arrives differs (an activity there, a function call here). Nothing here
does I/O, reads a clock or draws a random number: decisions replay identically.

A rung's entrants are the survivors of the rung below (best first) then its fresh trials
(ascending). ``tpe`` proposes the fresh ones a wave at a time (``app.search.waves``); ``random``
draws ignore observations, so it proposes a rung's fresh trials at once when the rung opens.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.domain.request import Direction, Ladder, Strategy, SweepRequest
from app.domain.results import (
    RungResult,
    RungSummary,
    TrialConfig,
    TrialResult,
    TrialStatus,
    trial_id,
)
from app.domain.space import ParamValue, SweepSpace
from app.domain.workflow_io import Observation, ProposeInput, SweepState
from app.search import rungs, waves

# A run at a rung has ended (a later wave's proposal may count on its result, or its absence).
ENDED_AT_RUNG = frozenset({TrialStatus.RUNG_DONE, TrialStatus.FAILED, TrialStatus.CANCELLED})


@dataclass(frozen=True)
class LadderPlan:
    """What the bookkeeping needs of a sweep's request."""

    ladder: Ladder
    strategy: Strategy
    width: int  # max_concurrency: a wave's size
    direction: Direction
    space: SweepSpace
    seed: int
    # Wave k waits for waves <= k - lag; the service's is waves.LAG, simulators try others.
    lag: int = waves.LAG

    @classmethod
    def of(cls, request: SweepRequest) -> LadderPlan:
        return cls(
            ladder=request.ladder,
            strategy=request.strategy,
            width=request.max_concurrency,
            direction=request.objective.resolved_direction,
            space=request.space,
            seed=request.seed,
        )

    @property
    def waved(self) -> bool:
        return self.strategy == "tpe"


@dataclass(frozen=True)
class RungOpening:
    promoted: list[int]  # survivors of the rung below, best first
    fresh: list[int]  # new trial indices, ascending

    @property
    def entrants(self) -> list[int]:
        return self.promoted + self.fresh


@dataclass(frozen=True)
class RungDecision:
    survivors: list[TrialResult]  # promoted, best first (none on the last rung)
    statuses: dict[int, TrialStatus]  # the new status of each trial that finished the rung
    finished: bool  # nothing is left to train after this rung
    nothing_finished: bool  # no trial of the sweep has a result yet: the sweep cannot go on


def observations(trials: Iterable[TrialResult]) -> list[Observation]:
    """Every finished (trial, rung) result, with its tie-breaker (the held-out loss)."""
    return [
        Observation(
            trial_index=trial.trial_index,
            params=trial.params,
            rung=result.rung,
            value=result.objective_value,
            tie_breaker=rungs.tie_breaker(result.metrics),
        )
        for trial in trials
        for result in trial.rungs
    ]


def plan_rung(state: SweepState, plan: LadderPlan, rung: int) -> RungOpening:
    """Who enters ``rung`` (read only: ``open_rung`` records it)."""
    if rung == 0:
        promoted: list[int] = []
    else:
        promoted = [index_of(t) for t in state.rungs[rung - 1].survivors]
    count = rungs.new_trials_at(plan.ladder, rung)
    fresh = list(range(state.next_trial_index, state.next_trial_index + count))
    return RungOpening(promoted=promoted, fresh=fresh)


def open_rung(state: SweepState, plan: LadderPlan, opening: RungOpening, rung: int) -> None:
    """Record the rung's entrants: its summary, and the indices its fresh trials take."""
    state.next_trial_index += len(opening.fresh)
    state.rungs.append(
        RungSummary(
            rung=rung,
            budget=rungs.rung_budget(plan.ladder, rung),
            trial_ids=[trial_id(i) for i in opening.entrants],
        )
    )


def entrants(state: SweepState, rung: int) -> list[int]:
    return [index_of(t) for t in state.rungs[rung].trial_ids]


def members(state: SweepState, rung: int) -> list[TrialResult]:
    """The rung's proposed trials (a rung ends with all of its waves proposed)."""
    return [state.trials[i] for i in entrants(state, rung) if i in state.trials]


def born_at(state: SweepState, rung: int) -> set[int]:
    """The rung's fresh entrants: not proposed yet, or proposed for this rung."""
    configs = state.configs
    return {i for i in entrants(state, rung) if i not in configs or configs[i].born_rung == rung}


def unproposed(state: SweepState, rung: int) -> bool:
    return any(i not in state.configs for i in entrants(state, rung))


def opening_proposal(
    state: SweepState, plan: LadderPlan, rung: int, fresh: list[int]
) -> ProposeInput:
    """All of a rung's fresh trials at once, when it opens (``random``), seeing everything."""
    return _proposal(plan, rung, fresh, observations(state.trials.values()), [])


def waves_to_propose(state: SweepState, plan: LadderPlan, rung: int) -> list[int]:
    """The rung's waves that have fresh members without configs, in order."""
    order, fresh = entrants(state, rung), born_at(state, rung)
    return [
        wave
        for wave in waves.waves_to_propose(order, plan.width, fresh)
        if not all(i in state.configs for i in waves.fresh_members(order, plan.width, wave, fresh))
    ]


def wave_ready(state: SweepState, plan: LadderPlan, rung: int, wave: int) -> bool:
    """Every entrant the wave sees has ended its run at the rung, and its pending ones exist."""
    order, fresh = entrants(state, rung), born_at(state, rung)
    seen = waves.seen_entrants(order, plan.width, wave, lag=plan.lag)
    pending = waves.pending_members(order, plan.width, wave, fresh, lag=plan.lag)
    return all(i in state.trials and state.trials[i].status in ENDED_AT_RUNG for i in seen) and all(
        i in state.configs for i in pending
    )


def wave_proposal(state: SweepState, plan: LadderPlan, rung: int, wave: int) -> ProposeInput:
    """One wave's proposal: lower rungs and this rung's seen entrants, the waves in between
    as pending (call once ``wave_ready``)."""
    order, fresh = entrants(state, rung), born_at(state, rung)
    seen = waves.wave_observations(
        observations(state.trials.values()), rung, order, plan.width, wave, lag=plan.lag
    )
    pending = waves.pending_members(order, plan.width, wave, fresh, lag=plan.lag)
    return _proposal(
        plan,
        rung,
        waves.fresh_members(order, plan.width, wave, fresh),
        seen,
        [state.configs[i].params for i in pending],
    )


def add_proposals(state: SweepState, configs: Sequence[TrialConfig], rung: int) -> list[int]:
    """Each config becomes a PENDING trial of ``rung``; returns their indices."""
    for config in configs:
        state.configs[config.trial_index] = config
        state.trials[config.trial_index] = TrialResult(
            trial_id=config.trial_id,
            trial_index=config.trial_index,
            params=config.params,
            seed=config.seed,
            status=TrialStatus.PENDING,
            rung=rung,
        )
    return [config.trial_index for config in configs]


def rung_done(trial: TrialResult, result: RungResult) -> dict[str, object]:
    """The changes to ``trial`` once its run at ``result.rung`` produced ``result``."""
    return {
        "status": TrialStatus.RUNG_DONE,
        "rung": result.rung,
        "objective_value": result.objective_value,
        "metrics": result.metrics,
        "checkpoint": result.checkpoint,
        "rungs": [*trial.rungs, result],
        "train_seconds": trial.train_seconds + result.train_seconds,
    }


def decide_rung(state: SweepState, plan: LadderPlan, rung: int) -> RungDecision:
    """Survivors and the new status of every trial that finished ``rung``."""
    ladder = plan.ladder
    entered = members(state, rung)
    finished = [t for t in entered if t.status == TrialStatus.RUNG_DONE]
    survivors = rungs.select_survivors(ladder, rung, entered, plan.direction)
    kept = {t.trial_index for t in survivors}
    last = rung == len(ladder.rungs) - 1
    statuses = {
        t.trial_index: TrialStatus.PENDING
        if t.trial_index in kept
        else (TrialStatus.COMPLETED if last else TrialStatus.PRUNED)
        for t in finished
    }
    return RungDecision(
        survivors=survivors,
        statuses=statuses,
        finished=rungs.sweep_finished(ladder, rung, len(survivors)),
        nothing_finished=not finished and not any(t.rungs for t in state.trials.values()),
    )


def close_rung(state: SweepState, rung: int, decision: RungDecision) -> None:
    """Record the decision in the rung's summary (trial statuses are the caller's to apply:
    the workflow tells the index and the journal of each)."""
    state.rungs[rung] = state.rungs[rung].model_copy(
        update={"survivors": [t.trial_id for t in decision.survivors], "complete": True}
    )


def run_cost(trial: TrialResult, budget: float, *, from_checkpoint: bool = True) -> float:
    """Budget units the trial's run to ``budget`` costs: continuing from its last rung's
    checkpoint pays the difference; retraining from scratch (the seed demo) pays it all."""
    reached = trial.rungs[-1].budget if trial.rungs else 0.0
    return budget - reached if from_checkpoint else budget


def compute_spent(trials: Iterable[TrialResult]) -> float:
    """Budget units the sweep has trained so far (each run continuing from its checkpoint)."""
    total = 0.0
    for trial in trials:
        reached = 0.0
        for result in trial.rungs:
            total += result.budget - reached
            reached = result.budget
    return total


def index_of(trial_id_: str) -> int:
    """``t0012`` -> 12 (ValueError for anything else)."""
    if not trial_id_.startswith("t") or not trial_id_[1:].isdigit():
        raise ValueError(f"unknown trial id {trial_id_!r}")
    return int(trial_id_[1:])


def _proposal(
    plan: LadderPlan,
    rung: int,
    indices: list[int],
    seen: list[Observation],
    pending: list[dict[str, ParamValue]],
) -> ProposeInput:
    return ProposeInput.model_validate(
        {
            "space": plan.space,
            "strategy": plan.strategy,
            "direction": plan.direction,
            "sweep_seed": plan.seed,
            "trial_indices": indices,
            "born_rung": rung,
            "observations": seen,
            "pending": pending,
        }
    )
