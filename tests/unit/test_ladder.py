"""The ladder model (app.search.ladder): entrants, waves, survivors and compute, pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain import CheckpointInfo, Ladder, RungResult, TrialMetrics, TrialStatus
from app.domain.results import TrialConfig
from app.domain.space import SweepSpace
from app.domain.workflow_io import SweepState
from app.search import ladder

SPACE = SweepSpace.model_validate({"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3}})


def plan(width: int = 2, strategy: str = "tpe") -> ladder.LadderPlan:
    return ladder.LadderPlan(
        ladder=Ladder.model_validate(
            {
                "unit": "steps",
                "trials": 5,
                "rungs": [{"budget": 10, "keep": 2}, {"budget": 30, "new_trials": 1}],
            }
        ),
        strategy=strategy,  # type: ignore[arg-type]
        width=width,
        direction="maximize",
        space=SPACE,
        seed=3,
    )


def configs(indices: list[int], rung: int) -> list[TrialConfig]:
    return [
        TrialConfig(trial_index=i, params={"learning_rate": 1e-4}, seed=i, born_rung=rung)
        for i in indices
    ]


def result(rung: int, budget: float, value: float, loss: float = 1.0) -> RungResult:
    return RungResult(
        rung=rung,
        budget=budget,
        global_step=int(budget),
        metrics=TrialMetrics(accuracy=value, f1_macro=value, eval_loss=loss, num_examples=10),
        objective_value=value,
        checkpoint=CheckpointInfo(path="/c", step=int(budget), epoch=0.0, rung=rung),
        train_seconds=1.0,
        eval_seconds=0.0,
    )


def finish(state: SweepState, index: int, res: RungResult) -> None:
    trial = state.trials[index]
    state.trials[index] = trial.model_copy(update=ladder.rung_done(trial, res))


def fresh_state() -> SweepState:
    return SweepState(started_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_a_rung_opens_with_fresh_indices_and_records_its_summary() -> None:
    state, p = fresh_state(), plan()
    opening = ladder.plan_rung(state, p, 0)
    assert (opening.promoted, opening.fresh) == ([], [0, 1, 2, 3, 4])
    assert state.next_trial_index == 0 and not state.rungs  # planning records nothing
    ladder.open_rung(state, p, opening, 0)
    assert state.next_trial_index == 5
    assert state.rungs[0].trial_ids == ["t0000", "t0001", "t0002", "t0003", "t0004"]
    assert ladder.unproposed(state, 0) and ladder.entrants(state, 0) == [0, 1, 2, 3, 4]


def test_waves_are_proposed_when_the_waves_two_behind_have_ended() -> None:
    state, p = fresh_state(), plan(width=2)
    ladder.open_rung(state, p, ladder.plan_rung(state, p, 0), 0)
    assert ladder.waves_to_propose(state, p, 0) == [0, 1, 2]
    assert ladder.wave_ready(state, p, 0, 0)
    first = ladder.wave_proposal(state, p, 0, 0)
    assert (first.trial_indices, first.observations, first.pending) == ([0, 1], [], [])
    ladder.add_proposals(state, configs([0, 1], 0), 0)
    # Wave 1 sees nothing of the rung and has wave 0 as pending; wave 2 waits for wave 0.
    assert ladder.wave_ready(state, p, 0, 1)
    second = ladder.wave_proposal(state, p, 0, 1)
    assert second.trial_indices == [2, 3] and len(second.pending) == 2
    ladder.add_proposals(state, configs([2, 3], 0), 0)
    assert not ladder.wave_ready(state, p, 0, 2)
    finish(state, 0, result(0, 10, 0.5))
    assert not ladder.wave_ready(state, p, 0, 2)
    finish(state, 1, result(0, 10, 0.6))
    assert ladder.wave_ready(state, p, 0, 2)
    third = ladder.wave_proposal(state, p, 0, 2)
    assert third.trial_indices == [4]
    assert sorted(o.trial_index for o in third.observations) == [0, 1]
    assert all(o.tie_breaker == 1.0 for o in third.observations)  # the held-out loss
    assert len(third.pending) == 2  # wave 1, still running
    assert ladder.waves_to_propose(state, p, 0) == [2]


def test_random_proposes_a_rung_at_once_seeing_everything() -> None:
    state, p = fresh_state(), plan(strategy="random")
    assert not p.waved
    opening = ladder.plan_rung(state, p, 0)
    inp = ladder.opening_proposal(state, p, 0, opening.fresh)
    assert inp.trial_indices == [0, 1, 2, 3, 4] and inp.strategy == "random"


def test_a_rung_decision_promotes_the_top_k_and_the_next_rung_continues_them() -> None:
    state, p = fresh_state(), plan()
    ladder.open_rung(state, p, ladder.plan_rung(state, p, 0), 0)
    ladder.add_proposals(state, configs([0, 1, 2, 3, 4], 0), 0)
    # Trial 1 and 3 tie on the objective: the lower held-out loss (3) goes first.
    for index, (value, loss) in enumerate([(0.1, 1), (0.9, 0.8), (0.2, 1), (0.9, 0.5), (0.3, 1)]):
        finish(state, index, result(0, 10, value, loss))
    state.trials[4] = state.trials[4].model_copy(update={"status": TrialStatus.FAILED})
    decision = ladder.decide_rung(state, p, 0)
    assert [t.trial_index for t in decision.survivors] == [3, 1]
    assert decision.statuses == {
        0: TrialStatus.PRUNED,
        1: TrialStatus.PENDING,
        2: TrialStatus.PRUNED,
        3: TrialStatus.PENDING,
    }
    assert not decision.finished and not decision.nothing_finished
    ladder.close_rung(state, 0, decision)
    assert state.rungs[0].survivors == ["t0003", "t0001"] and state.rungs[0].complete
    opening = ladder.plan_rung(state, p, 1)
    assert (opening.promoted, opening.fresh) == ([3, 1], [5])
    # Continuing from rung 0's checkpoint costs the difference; retraining all of it.
    assert ladder.run_cost(state.trials[3], 30) == 20
    assert ladder.run_cost(state.trials[3], 30, from_checkpoint=False) == 30
    assert ladder.compute_spent(state.trials.values()) == 50  # five runs of 10 (a failed one too)


def test_a_rung_where_nothing_finished_says_so() -> None:
    state, p = fresh_state(), plan()
    ladder.open_rung(state, p, ladder.plan_rung(state, p, 0), 0)
    ladder.add_proposals(state, configs([0, 1, 2, 3, 4], 0), 0)
    for index in range(5):
        state.trials[index] = state.trials[index].model_copy(update={"status": TrialStatus.FAILED})
    decision = ladder.decide_rung(state, p, 0)
    assert decision.nothing_finished and decision.survivors == []


@pytest.mark.parametrize("bad", ["", "t", "12", "t1x", "x0001"])
def test_trial_ids_that_are_not_ours_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        ladder.index_of(bad)
    assert ladder.index_of("t0012") == 12
