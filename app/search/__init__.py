"""Search: rung/promotion decisions (pure, workflow-safe) and the Optuna sampler adapter.

Only the rung logic is re-exported here, so that workflow code importing ``app.search`` never
pulls in Optuna; activities import ``app.search.sampler`` explicitly.
"""

from app.search.rungs import (
    EXCLUDED_STATUSES,
    best_trial,
    highest_scored_rung,
    is_usable,
    new_trials_at,
    next_rung_entrants,
    rank,
    rank_key,
    rank_trials,
    rung_budget,
    rung_scores,
    rung_value,
    select_survivors,
    survivors_count,
    sweep_finished,
    top_k,
)

__all__ = [
    "EXCLUDED_STATUSES",
    "best_trial",
    "highest_scored_rung",
    "is_usable",
    "new_trials_at",
    "next_rung_entrants",
    "rank",
    "rank_key",
    "rank_trials",
    "rung_budget",
    "rung_scores",
    "rung_value",
    "select_survivors",
    "survivors_count",
    "sweep_finished",
    "top_k",
]
