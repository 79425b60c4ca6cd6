"""The results index: a SQL read model mirroring sweep results for fast leaderboards.

Temporal holds the truth; this index is rebuilt from it (``delete_sweep`` + ``mirror_sweep``).
Writes: ``mirror_sweep`` (the mirror activity), ``register_sweep``, ``upsert_sweep``,
``upsert_trials``. Reads: ``get_sweep``, ``list_sweeps``, ``leaderboard``, ``list_trials``,
``get_trial``. Every function takes a Session and never commits: ``session_scope`` does.
Migrations: ``app.db.migrate.upgrade_to_head(url)`` (kept apart: it imports Alembic).
"""

from app.db.errors import IndexUnavailable, SweepNotFound
from app.db.leaderboard import leaderboard
from app.db.mirror import SweepRecord, mirror_sweep, register_sweep, upsert_sweep, upsert_trials
from app.db.repository import delete_sweep, get_sweep, get_trial, list_sweeps, list_trials
from app.db.session import make_engine, ping, session_scope, translate_errors
from app.domain.rows import (
    LeaderboardPage,
    LeaderboardRow,
    Page,
    SweepDetail,
    SweepRow,
    TrialDetail,
    TrialRow,
)

__all__ = [
    "IndexUnavailable",
    "LeaderboardPage",
    "LeaderboardRow",
    "Page",
    "SweepDetail",
    "SweepNotFound",
    "SweepRecord",
    "SweepRow",
    "TrialDetail",
    "TrialRow",
    "delete_sweep",
    "get_sweep",
    "get_trial",
    "leaderboard",
    "list_sweeps",
    "list_trials",
    "make_engine",
    "mirror_sweep",
    "ping",
    "register_sweep",
    "session_scope",
    "translate_errors",
    "upsert_sweep",
    "upsert_trials",
]
