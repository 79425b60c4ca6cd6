"""Access control: API tokens (only their hashes) and sweep owners.

Sweeps made before this revision have no owner row: only admin tokens see them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column(
            "principal",
            sa.String(length=64),
            nullable=False,
            comment="The name that owns its sweeps.",
        ),
        sa.Column(
            "token_hash",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 of the token, hex; the token is never stored.",
        ),
        sa.Column(
            "admin", sa.Boolean(), nullable=False, comment="Sees every sweep; manages tokens."
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_principal"), "api_tokens", ["principal"], unique=False)
    op.create_table(
        "sweep_owners",
        sa.Column("sweep_id", sa.String(length=200), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sweep_id", name=op.f("pk_sweep_owners")),
    )
    op.create_index(
        op.f("ix_sweep_owners_principal_sweep_id"),
        "sweep_owners",
        ["principal", "sweep_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sweep_owners_principal_sweep_id"), table_name="sweep_owners")
    op.drop_table("sweep_owners")
    op.drop_index(op.f("ix_api_tokens_principal"), table_name="api_tokens")
    op.drop_table("api_tokens")
