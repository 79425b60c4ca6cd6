"""The orchestration benchmark's figures: slot-seconds and overhead beyond perfect packing."""

import pytest

from benchmarks.orchestration.orchestration import Run


def test_perfect_packing_costs_nothing() -> None:
    run = Run("x", seconds=1.0, concurrency=16, trials=320, wall=20.0)
    assert run.slot_seconds == pytest.approx(0.0)
    assert run.overhead == pytest.approx(0.0)


def test_extra_wall_is_spread_over_the_trials_in_slot_seconds() -> None:
    # 2 s beyond the ideal 20 s, on 16 slots, over 320 trials: 0.1 slot-seconds each.
    run = Run("x", seconds=1.0, concurrency=16, trials=320, wall=22.0, cpu={"a": 3.2, "b": 6.4})
    assert run.slot_seconds == pytest.approx(0.1)
    assert run.overhead == pytest.approx(0.1)
    assert run.cpu_per_trial() == pytest.approx(0.03)
    assert run.cpu_per_trial("a") == pytest.approx(0.01)
