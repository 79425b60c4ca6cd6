"""Waved proposals: a rung's fresh trials proposed a wave at a time (pure, workflow-safe).

A rung's entrants run ``width`` (the sweep's max_concurrency) at a time in their fixed order
(survivors best first, then fresh indices ascending), so the entrant at position p starts in
wave p // width. Proposing every fresh trial at the rung's boundary would make them all blind
to this rung's results; proposing wave k just before it starts lets it learn from the waves
that have ended by then.

Wave k's proposal sees every result of lower rungs plus this rung's results of waves
0..k-``lag``; the fresh trials of the waves in between (still running when wave k starts)
are passed as pending, so the constant liar spreads wave k away from them. With ``lag`` 2 a
free slot never waits for a proposal when trials take similar time, and what a wave sees is
fixed by the workflow's state, not by which trial happened to finish first.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from app.domain.workflow_io import Observation

# Wave k waits for waves <= k - LAG: 1 would be a barrier per wave, 2 keeps slots busy.
LAG = 2


def wave_count(entrants: int, width: int) -> int:
    """How many waves ``entrants`` trials run in, ``width`` at a time."""
    _check_width(width)
    return -(-entrants // width)


def wave_members(entrants: Sequence[int], width: int, wave: int) -> list[int]:
    """The entrants that start in ``wave``, in start order."""
    _check_width(width)
    return list(entrants[wave * width : (wave + 1) * width])


def fresh_members(
    entrants: Sequence[int], width: int, wave: int, fresh: Collection[int]
) -> list[int]:
    """The members of ``wave`` born at this rung, ascending: those it proposes."""
    return sorted(i for i in wave_members(entrants, width, wave) if i in fresh)


def waves_to_propose(entrants: Sequence[int], width: int, fresh: Collection[int]) -> list[int]:
    """The waves with fresh members: one proposal each, in wave order."""
    count = wave_count(len(entrants), width)
    return [k for k in range(count) if fresh_members(entrants, width, k, fresh)]


def seen_entrants(entrants: Sequence[int], width: int, wave: int, *, lag: int = LAG) -> list[int]:
    """Entrants whose results at this rung ``wave``'s proposal sees: waves <= wave - lag.

    They are also the ones that must have ended their run at this rung before it is made.
    """
    _check_width(width)
    return list(entrants[: max(0, wave - lag + 1) * width])


def pending_members(
    entrants: Sequence[int], width: int, wave: int, fresh: Collection[int], *, lag: int = LAG
) -> list[int]:
    """Fresh trials of the waves between the seen ones and ``wave``, ascending: the pending.

    Survivors are left out: they already have results at lower rungs, and lying about them
    too would push the proposals away from the best configurations known.
    """
    seen = len(seen_entrants(entrants, width, wave, lag=lag))
    return sorted(i for i in entrants[seen : wave * width] if i in fresh)


def wave_observations(
    observations: Sequence[Observation],
    rung: int,
    entrants: Sequence[int],
    width: int,
    wave: int,
    *,
    lag: int = LAG,
) -> list[Observation]:
    """What ``wave``'s proposal may see: lower rungs, and this rung's seen entrants."""
    seen = set(seen_entrants(entrants, width, wave, lag=lag))
    return [
        obs
        for obs in observations
        if obs.rung < rung or (obs.rung == rung and obs.trial_index in seen)
    ]


def _check_width(width: int) -> None:
    if width < 1:
        raise ValueError(f"wave width must be >= 1, got {width}")
