"""Waved proposals' bookkeeping (app.search.waves): which trials a wave proposes, sees, lies about."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.workflow_io import Observation
from app.search import waves

# A rung as the workflow orders it: survivors best first, then fresh indices ascending.
SURVIVORS = [5, 2, 9]
FRESH = [10, 11, 12, 13, 14, 15, 16]
ENTRANTS = SURVIVORS + FRESH


def test_entrants_are_cut_into_waves_of_the_concurrency() -> None:
    assert waves.wave_count(len(ENTRANTS), 4) == 3
    assert [waves.wave_members(ENTRANTS, 4, k) for k in range(3)] == [
        [5, 2, 9, 10],
        [11, 12, 13, 14],
        [15, 16],
    ]


def test_each_wave_with_fresh_members_proposes_them() -> None:
    assert waves.waves_to_propose(ENTRANTS, 4, set(FRESH)) == [0, 1, 2]
    assert waves.fresh_members(ENTRANTS, 4, 0, set(FRESH)) == [10]
    assert waves.fresh_members(ENTRANTS, 4, 2, set(FRESH)) == [15, 16]
    # A wave of survivors only proposes nothing.
    assert waves.waves_to_propose(ENTRANTS, 2, set(FRESH)) == [1, 2, 3, 4]


def test_wave_k_sees_waves_up_to_k_minus_2_and_lies_about_k_minus_1() -> None:
    assert waves.seen_entrants(ENTRANTS, 4, 0) == []
    assert waves.seen_entrants(ENTRANTS, 4, 1) == []
    assert waves.seen_entrants(ENTRANTS, 4, 2) == [5, 2, 9, 10]
    assert waves.pending_members(ENTRANTS, 4, 0, set(FRESH)) == []
    # Survivors in wave 0 are not pending: they have results at lower rungs.
    assert waves.pending_members(ENTRANTS, 4, 1, set(FRESH)) == [10]
    assert waves.pending_members(ENTRANTS, 4, 2, set(FRESH)) == [11, 12, 13, 14]


def test_observations_of_this_rung_are_filtered_lower_rungs_kept() -> None:
    def obs(index: int, rung: int) -> Observation:
        return Observation(trial_index=index, params={}, rung=rung, value=float(index))

    everything = [obs(i, 0) for i in SURVIVORS] + [obs(i, 1) for i in ENTRANTS]
    rung1 = {(o.trial_index, o.rung) for o in everything if o.rung == 1}
    seen = waves.wave_observations(everything, 1, ENTRANTS, 4, 2)
    assert {(o.trial_index, o.rung) for o in seen} == {
        *((i, 0) for i in SURVIVORS),
        *((i, 1) for i in [5, 2, 9, 10]),
    }
    assert rung1 - {(o.trial_index, o.rung) for o in seen}
    # Waves 0 and 1 see lower rungs only: the boundary proposal.
    for k in (0, 1):
        lower = waves.wave_observations(everything, 1, ENTRANTS, 4, k)
        assert all(o.rung == 0 for o in lower) and len(lower) == len(SURVIVORS)


def test_a_width_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        waves.wave_count(3, 0)


@given(
    survivors=st.integers(0, 20),
    fresh=st.integers(0, 40),
    width=st.integers(1, 12),
)
def test_every_fresh_trial_is_proposed_once_and_sees_no_later_wave(
    survivors: int, fresh: int, width: int
) -> None:
    entrants = list(range(100, 100 + survivors)) + list(range(fresh))
    born = set(range(fresh))
    proposed = [
        i
        for k in waves.waves_to_propose(entrants, width, born)
        for i in waves.fresh_members(entrants, width, k, born)
    ]
    assert proposed == sorted(born)
    for k in range(waves.wave_count(len(entrants), width)):
        seen = waves.seen_entrants(entrants, width, k)
        pending = waves.pending_members(entrants, width, k, born)
        members = waves.wave_members(entrants, width, k)
        # Seen ones started at least two waves earlier; pending ones one wave earlier.
        assert all(entrants.index(i) < (k - 1) * width for i in seen)
        assert all(k - 1 == entrants.index(i) // width for i in pending)
        assert not (set(seen) | set(pending)) & set(members)
        assert pending == sorted(pending)
