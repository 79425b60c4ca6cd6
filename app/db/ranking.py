"""How a trial is ranked and how far it has progressed: pure functions, no SQL.

Leaderboard order (successive halving): usable trials first, then trials at the highest
scored rung, then the best objective value in the sweep's direction, ties by held-out loss,
then by trial index.

- ``rank_group``: 0 usable (finite value, not failed/cancelled); 1 failed or cancelled but
  with a finite value; 2 no usable value (not scored yet, NaN or infinite).
- ``rank_value``: the value when minimising, its negation when maximising (so best first
  is always ascending); 0.0 when there is no usable value, so that the column is never
  NULL (SQLite and Postgres order NULLs differently).
- ``rank_tie``: orders equal ``rank_value``s as the sweep does (app.search.rungs): the
  held-out loss of the scored result, ``LOSS_UNKNOWN`` when it has none or it is NaN.
- ``scored_rung``: the latest rung with a result; -1 when there is none.

The no-regression guard compares a trial's progress key, ``(rung, scored_rung,
checkpoint_step, phase)``, lexicographically: see ``app/db/mirror.py``.
"""

from __future__ import annotations

import hashlib
import math

from app.domain import RungResult, SweepStatus, TrialMetrics, TrialResult, TrialStatus
from app.domain.request import Direction
from app.domain.results import FINAL_TRIAL_STATUSES
from app.search.rungs import tie_breaker

USABLE, UNRANKED, UNUSABLE = 0, 1, 2

UNRANKED_TRIAL_STATUSES = frozenset({TrialStatus.FAILED, TrialStatus.CANCELLED})
FINAL_SWEEP_STATUSES = frozenset({SweepStatus.COMPLETED, SweepStatus.FAILED, SweepStatus.CANCELLED})

# Bump when what is derived from a TrialResult changes, so that every trial is rewritten.
_FINGERPRINT_VERSION = b"1"


def storable(value: float | None) -> float | None:
    """NaN is stored as NULL (SQLite cannot hold it); infinities are kept."""
    return None if value is None or math.isnan(value) else value


# A finite stand-in for "no loss": after every real one, and storable in SQLite and Postgres.
LOSS_UNKNOWN = 1e300


def loss_rank(metrics: TrialMetrics | None) -> float:
    """``rank_tie`` of a result's metrics: the sweep's tie-breaker, made storable."""
    return LOSS_UNKNOWN if metrics is None else min(tie_breaker(metrics), LOSS_UNKNOWN)


def value_rank(value: float | None, direction: Direction) -> tuple[int, float]:
    """(rank_group, rank_value) of one objective value."""
    if value is None or not math.isfinite(value):
        return UNUSABLE, 0.0
    return USABLE, (-value if direction == "maximize" else value)


def trial_phase(status: TrialStatus) -> int:
    """0 in flight (pending, running, paused), 1 rung done, 2 final."""
    if status in FINAL_TRIAL_STATUSES:
        return 2
    return 1 if status == TrialStatus.RUNG_DONE else 0


def latest_result(trial: TrialResult) -> RungResult | None:
    return max(trial.rungs, key=lambda r: r.rung) if trial.rungs else None


class TrialScore:
    """The latest scored rung of a trial, its value and metrics, and its rank keys."""

    __slots__ = ("metrics", "rank_group", "rank_tie", "rank_value", "scored_rung", "value")

    def __init__(self, trial: TrialResult, direction: Direction) -> None:
        latest = latest_result(trial)
        self.value: float | None = trial.objective_value
        self.metrics: TrialMetrics | None = trial.metrics
        if latest is not None:
            self.scored_rung = latest.rung
            if self.value is None:
                self.value = latest.objective_value
            if self.metrics is None:
                self.metrics = latest.metrics
        else:
            self.scored_rung = trial.rung if self.value is not None else -1
        group, self.rank_value = value_rank(self.value, direction)
        self.rank_tie = loss_rank(self.metrics)
        if group == USABLE and trial.status in UNRANKED_TRIAL_STATUSES:
            group = UNRANKED
        self.rank_group = group


def fingerprint(trial: TrialResult) -> int:
    """A 64-bit hash of everything mirrored about a trial: unchanged trials are skipped."""
    digest = hashlib.blake2b(_FINGERPRINT_VERSION, digest_size=8)
    digest.update(trial.model_dump_json().encode())
    return int.from_bytes(digest.digest(), "big", signed=True)
