"""The ladder run in this process, rung by rung and wave by wave, through
``app.search.ladder``: the bookkeeping the sweep workflow uses, with the two things the
service does over Temporal (proposing, training) passed in as functions.

A wave's fresh trials are proposed once the waves it sees have ended (the simulator trains a
wave to the end before the next is proposed; what a proposal may see is the model's, so
results of the waves in between stay hidden, as they would be still running in the service).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from app.domain.results import RungResult, TrialConfig, TrialResult, TrialStatus
from app.domain.workflow_io import ProposeInput, SweepState
from app.search import ladder, waves

Propose = Callable[[ProposeInput], Sequence[TrialConfig]]
# A trial's run to ``budget`` at ``rung``: its result there (the training stand-in).
Train = Callable[[TrialResult, int, float], RungResult]
# Told after every run, with the sweep's state and the run's cost in budget units.
Observe = Callable[[SweepState, TrialResult, float], None]

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def drive_ladder(
    plan: ladder.LadderPlan,
    propose: Propose,
    train: Train,
    observe: Observe | None = None,
) -> SweepState:
    """One sweep of ``plan``; returns its final state (trials, configs, rung summaries)."""
    state = SweepState(started_at=_EPOCH)
    for rung in range(len(plan.ladder.rungs)):
        opening = ladder.plan_rung(state, plan, rung)
        if opening.fresh and not plan.waved:
            ladder.add_proposals(
                state, propose(ladder.opening_proposal(state, plan, rung, opening.fresh)), rung
            )
        ladder.open_rung(state, plan, opening, rung)
        for index in opening.promoted:
            _set(state, index, status=TrialStatus.PENDING, rung=rung)
        order = ladder.entrants(state, rung)
        budget = plan.ladder.rungs[rung].budget
        for wave in range(waves.wave_count(len(order), plan.width)):
            if wave in ladder.waves_to_propose(state, plan, rung):
                assert ladder.wave_ready(state, plan, rung, wave), (rung, wave)
                proposal = ladder.wave_proposal(state, plan, rung, wave)
                ladder.add_proposals(state, propose(proposal), rung)
            for index in waves.wave_members(order, plan.width, wave):
                trial = state.trials[index]
                cost = ladder.run_cost(trial, budget)
                result = train(trial, rung, budget)
                _set(state, index, **ladder.rung_done(trial, result))
                if observe is not None:
                    observe(state, state.trials[index], cost)
        decision = ladder.decide_rung(state, plan, rung)
        for index, status in decision.statuses.items():
            _set(state, index, status=status)
        ladder.close_rung(state, rung, decision)
        if decision.finished:
            break
    return state


def _set(state: SweepState, index: int, **changes: object) -> None:
    state.trials[index] = state.trials[index].model_copy(update=changes)
