"""Webhooks: endpoints (secrets encrypted), deliveries and every attempt.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False, comment="Event types sent to it."),
        sa.Column(
            "sweep_id",
            sa.String(length=200),
            nullable=True,
            comment="The sweep whose request named it; NULL: every sweep.",
        ),
        sa.Column(
            "position", sa.Integer(), nullable=True, comment="Index in the request's webhooks list."
        ),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column(
            "secret_encrypted", sa.Text(), nullable=False, comment="Fernet token, never plain."
        ),
        sa.Column(
            "previous_secret_encrypted",
            sa.Text(),
            nullable=True,
            comment="Also signs until previous_secret_expires_at (rotation grace).",
        ),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "status", sa.String(length=16), nullable=False, comment="active, disabled or deleted."
        ),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
        sa.UniqueConstraint(
            "sweep_id", "position", name=op.f("uq_webhook_endpoints_sweep_id_position")
        ),
    )
    op.create_index(
        op.f("ix_webhook_endpoints_status_sweep_id"),
        "webhook_endpoints",
        ["status", "sweep_id"],
        unique=False,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column(
            "id",
            sa.String(length=40),
            nullable=False,
            comment="The webhook-id header: same on every attempt.",
        ),
        sa.Column("endpoint_id", sa.String(length=40), nullable=False),
        sa.Column("sweep_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("event_key", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False, comment="The event, as first sent."),
        sa.Column(
            "state", sa.String(length=16), nullable=False, comment="pending, delivered or failed."
        ),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_sweep_id_created_at"),
        "webhook_deliveries",
        ["sweep_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "webhook_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False, comment="1 for the first attempt."),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True, comment="First 1 KiB."),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "verdict",
            sa.String(length=16),
            nullable=False,
            comment="delivered, retry, failed, gone or refused.",
        ),
        sa.Column("peer", sa.String(length=64), nullable=True, comment="Address connected to."),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(
        op.f("ix_webhook_attempts_delivery_id_number"),
        "webhook_attempts",
        ["delivery_id", "number"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_attempts_delivery_id_number"), table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index(
        op.f("ix_webhook_deliveries_sweep_id_created_at"), table_name="webhook_deliveries"
    )
    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_webhook_endpoints_status_sweep_id"), table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
