"""Results index: sweeps, trials, trial_rungs, checkpoints.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Timestamps are timezone-aware (app.db.models.UTCDateTime stores UTC); JSON columns are
JSON on both backends. The leaderboard indexes are explained in app/db/models.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(length=200), nullable=False, comment="Workflow id."),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=True),
        sa.Column("current_rung", sa.Integer(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=True, comment="SweepRequest as JSON."),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("best_trial_id", sa.String(length=32), nullable=True),
        sa.Column("best_objective_value", sa.Float(), nullable=True),
        sa.Column("trial_count", sa.Integer(), nullable=False),
        sa.Column(
            "result_count",
            sa.Integer(),
            nullable=False,
            comment="Rung results so far: part of the no-regression guard.",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
    )
    op.create_index(op.f("ix_sweeps_created_at_id"), "sweeps", ["created_at", "id"], unique=False)
    op.create_index(
        op.f("ix_sweeps_name_created_at"), "sweeps", ["name", "created_at"], unique=False
    )
    op.create_index(
        op.f("ix_sweeps_status_created_at"), "sweeps", ["status", "created_at"], unique=False
    )
    op.create_table(
        "trials",
        sa.Column("sweep_id", sa.String(length=200), nullable=False),
        sa.Column("trial_id", sa.String(length=32), nullable=False),
        sa.Column("trial_index", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "rung", sa.Integer(), nullable=False, comment="Highest rung reached (trained at)."
        ),
        sa.Column(
            "phase",
            sa.SmallInteger(),
            nullable=False,
            comment="0 in flight, 1 rung done, 2 final: part of the guard.",
        ),
        sa.Column("scored_rung", sa.Integer(), nullable=False),
        sa.Column("objective_value", sa.Float(), nullable=True, comment="NULL: none or NaN."),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("f1_macro", sa.Float(), nullable=True),
        sa.Column("eval_loss", sa.Float(), nullable=True),
        sa.Column("num_examples", sa.Integer(), nullable=True),
        sa.Column(
            "rank_group",
            sa.SmallInteger(),
            nullable=False,
            comment="0 usable, 1 failed/cancelled with a value, 2 no usable value.",
        ),
        sa.Column(
            "rank_value", sa.Float(), nullable=False, comment="Direction-normalised; 0 if unusable."
        ),
        sa.Column("train_seconds", sa.Float(), nullable=False),
        sa.Column("checkpoint_path", sa.Text(), nullable=True),
        sa.Column(
            "checkpoint_step", sa.Integer(), nullable=False, comment="-1: no checkpoint yet."
        ),
        sa.Column("checkpoint_epoch", sa.Float(), nullable=True),
        sa.Column("checkpoint_rung", sa.Integer(), nullable=True),
        sa.Column("checkpoint_reason", sa.String(length=16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "fingerprint",
            sa.BigInteger(),
            nullable=False,
            comment="Hash of the mirrored TrialResult: unchanged trials are skipped.",
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sweep_id"], ["sweeps.id"], name=op.f("fk_trials_sweep_id_sweeps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sweep_id", "trial_id", name=op.f("pk_trials")),
        sa.UniqueConstraint("sweep_id", "trial_index", name=op.f("uq_trials_sweep_id_trial_index")),
    )
    op.create_index(
        "ix_trials_leaderboard",
        "trials",
        ["sweep_id", "rank_group", sa.text("scored_rung DESC"), "rank_value", "trial_index"],
        unique=False,
    )
    op.create_index(
        "ix_trials_status_leaderboard",
        "trials",
        [
            "sweep_id",
            "status",
            "rank_group",
            sa.text("scored_rung DESC"),
            "rank_value",
            "trial_index",
        ],
        unique=False,
    )
    op.create_table(
        "checkpoints",
        sa.Column("sweep_id", sa.String(length=200), nullable=False),
        sa.Column("trial_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Float(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sweep_id", "trial_id"],
            ["trials.sweep_id", "trials.trial_id"],
            name=op.f("fk_checkpoints_sweep_id_trial_id_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sweep_id", "trial_id", "step", name=op.f("pk_checkpoints")),
    )
    op.create_table(
        "trial_rungs",
        sa.Column("sweep_id", sa.String(length=200), nullable=False),
        sa.Column("trial_id", sa.String(length=32), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("trial_index", sa.Integer(), nullable=False),
        sa.Column("budget", sa.Float(), nullable=False),
        sa.Column("global_step", sa.Integer(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=True, comment="NULL: NaN."),
        sa.Column("f1_macro", sa.Float(), nullable=True),
        sa.Column("eval_loss", sa.Float(), nullable=True),
        sa.Column("num_examples", sa.Integer(), nullable=False),
        sa.Column("objective_value", sa.Float(), nullable=True, comment="NULL: NaN."),
        sa.Column(
            "rank_group", sa.SmallInteger(), nullable=False, comment="0 usable, 2 NaN/infinite."
        ),
        sa.Column("rank_value", sa.Float(), nullable=False),
        sa.Column("train_seconds", sa.Float(), nullable=False),
        sa.Column("eval_seconds", sa.Float(), nullable=False),
        sa.Column("checkpoint_path", sa.Text(), nullable=False),
        sa.Column("checkpoint_step", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sweep_id", "trial_id"],
            ["trials.sweep_id", "trials.trial_id"],
            name=op.f("fk_trial_rungs_sweep_id_trial_id_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sweep_id", "trial_id", "rung", name=op.f("pk_trial_rungs")),
    )
    op.create_index(
        "ix_trial_rungs_leaderboard",
        "trial_rungs",
        ["sweep_id", "rung", "rank_group", "rank_value", "trial_index"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_trial_rungs_leaderboard", table_name="trial_rungs")
    op.drop_table("trial_rungs")
    op.drop_table("checkpoints")
    op.drop_index("ix_trials_status_leaderboard", table_name="trials")
    op.drop_index("ix_trials_leaderboard", table_name="trials")
    op.drop_table("trials")
    op.drop_index(op.f("ix_sweeps_status_created_at"), table_name="sweeps")
    op.drop_index(op.f("ix_sweeps_name_created_at"), table_name="sweeps")
    op.drop_index(op.f("ix_sweeps_created_at_id"), table_name="sweeps")
    op.drop_table("sweeps")
