"""Leaderboard ties by held-out loss: a ``rank_tie`` column on trials and their rung results,
and the leaderboard indexes ordered by it before the trial index.

Existing rows take their stored loss (a NULL, NaN loss: ``LOSS_UNKNOWN``), so the index of a
database that was never rebuilt orders ties as the sweeps themselves do.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMENT = "Held-out loss: orders equal rank_values; 1e300 if unknown."
LOSS_UNKNOWN_SQL = "1e300"  # app.db.ranking.LOSS_UNKNOWN when this revision was written
TRIAL_ORDER = ["rank_group", sa.text("scored_rung DESC"), "rank_value"]


def _indexes(tie: list[str]) -> None:
    op.create_index(
        "ix_trials_leaderboard", "trials", ["sweep_id", *TRIAL_ORDER, *tie, "trial_index"]
    )
    op.create_index(
        "ix_trials_status_leaderboard",
        "trials",
        ["sweep_id", "status", *TRIAL_ORDER, *tie, "trial_index"],
    )
    op.create_index(
        "ix_trial_rungs_leaderboard",
        "trial_rungs",
        ["sweep_id", "rung", "rank_group", "rank_value", *tie, "trial_index"],
    )


def _drop_indexes() -> None:
    op.drop_index("ix_trials_leaderboard", table_name="trials")
    op.drop_index("ix_trials_status_leaderboard", table_name="trials")
    op.drop_index("ix_trial_rungs_leaderboard", table_name="trial_rungs")


def upgrade() -> None:
    _drop_indexes()
    for table in ("trials", "trial_rungs"):
        # A plain ADD COLUMN (no batch copy of the table on SQLite: dropping the old copy would
        # cascade to the rows that reference it).
        op.add_column(
            table,
            sa.Column(
                "rank_tie",
                sa.Float(),
                nullable=False,
                server_default=sa.text(LOSS_UNKNOWN_SQL),
                comment=COMMENT,
            ),
        )
        op.execute(
            sa.text(f"UPDATE {table} SET rank_tie = eval_loss WHERE eval_loss < {LOSS_UNKNOWN_SQL}")
        )
    _indexes(["rank_tie"])


def downgrade() -> None:
    _drop_indexes()
    for table in ("trials", "trial_rungs"):
        op.drop_column(table, "rank_tie")
    _indexes([])
