"""Tables of the results index: a read model mirroring what Temporal knows about sweeps.

The leaderboard is served by one composite index per ordering, so that
``ORDER BY ... LIMIT 20`` reads 20 index entries instead of sorting a whole sweep:

- ``trials``: ``(sweep_id, rank_group, scored_rung DESC, rank_value, trial_index)``, and
  the same after ``status`` for the status filter
- ``trial_rungs``: ``(sweep_id, rung, rank_group, rank_value, trial_index)``

Every sort column is NOT NULL (SQLite and Postgres order NULLs differently), and
``rank_value`` is direction-normalised (the value when minimising, its negation when
maximising), so "best first" is always ascending. See ``app/db/ranking.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON(none_as_null=True)}


class Sweep(Base):
    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(200), primary_key=True, comment="Workflow id.")
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(16))
    strategy: Mapped[str | None] = mapped_column(String(16))
    current_rung: Mapped[int] = mapped_column(Integer, default=0)
    request: Mapped[dict[str, Any] | None] = mapped_column(comment="SweepRequest as JSON.")
    error: Mapped[str | None] = mapped_column(Text)
    best_trial_id: Mapped[str | None] = mapped_column(String(32))
    best_objective_value: Mapped[float | None] = mapped_column(Float)
    trial_count: Mapped[int] = mapped_column(Integer, default=0)
    result_count: Mapped[int] = mapped_column(
        Integer, default=0, comment="Rung results so far: part of the no-regression guard."
    )
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index(None, "created_at", "id"),
        Index(None, "status", "created_at"),
        Index(None, "name", "created_at"),
    )


RANK_TIE_COMMENT = "Held-out loss: orders equal rank_values; 1e300 if unknown."
RANK_TIE_DEFAULT = "1e300"  # app.db.ranking.LOSS_UNKNOWN


class Trial(Base):
    __tablename__ = "trials"

    sweep_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    trial_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    trial_index: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]]
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    rung: Mapped[int] = mapped_column(Integer, comment="Highest rung reached (trained at).")
    phase: Mapped[int] = mapped_column(
        SmallInteger, comment="0 in flight, 1 rung done, 2 final: part of the guard."
    )
    # The latest scored rung and its result (scored_rung = -1: none yet).
    scored_rung: Mapped[int] = mapped_column(Integer)
    objective_value: Mapped[float | None] = mapped_column(Float, comment="NULL: none or NaN.")
    accuracy: Mapped[float | None] = mapped_column(Float)
    f1_macro: Mapped[float | None] = mapped_column(Float)
    eval_loss: Mapped[float | None] = mapped_column(Float)
    num_examples: Mapped[int | None] = mapped_column(Integer)
    rank_group: Mapped[int] = mapped_column(
        SmallInteger, comment="0 usable, 1 failed/cancelled with a value, 2 no usable value."
    )
    rank_value: Mapped[float] = mapped_column(Float, comment="Direction-normalised; 0 if unusable.")
    rank_tie: Mapped[float] = mapped_column(
        Float, server_default=text(RANK_TIE_DEFAULT), comment=RANK_TIE_COMMENT
    )
    train_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    checkpoint_path: Mapped[str | None] = mapped_column(Text)
    checkpoint_step: Mapped[int] = mapped_column(Integer, comment="-1: no checkpoint yet.")
    checkpoint_epoch: Mapped[float | None] = mapped_column(Float)
    checkpoint_rung: Mapped[int | None] = mapped_column(Integer)
    checkpoint_reason: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    fingerprint: Mapped[int] = mapped_column(
        BigInteger, comment="Hash of the mirrored TrialResult: unchanged trials are skipped."
    )
    updated_at: Mapped[datetime]

    __table_args__ = (
        ForeignKeyConstraint(["sweep_id"], ["sweeps.id"], ondelete="CASCADE"),
        UniqueConstraint("sweep_id", "trial_index"),
    )


class TrialRung(Base):
    __tablename__ = "trial_rungs"

    sweep_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    trial_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rung: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_index: Mapped[int] = mapped_column(Integer)
    budget: Mapped[float] = mapped_column(Float)
    global_step: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float | None] = mapped_column(Float, comment="NULL: NaN.")
    f1_macro: Mapped[float | None] = mapped_column(Float)
    eval_loss: Mapped[float | None] = mapped_column(Float)
    num_examples: Mapped[int] = mapped_column(Integer)
    objective_value: Mapped[float | None] = mapped_column(Float, comment="NULL: NaN.")
    rank_group: Mapped[int] = mapped_column(SmallInteger, comment="0 usable, 2 NaN/infinite.")
    rank_value: Mapped[float] = mapped_column(Float)
    rank_tie: Mapped[float] = mapped_column(
        Float, server_default=text(RANK_TIE_DEFAULT), comment=RANK_TIE_COMMENT
    )
    train_seconds: Mapped[float] = mapped_column(Float)
    eval_seconds: Mapped[float] = mapped_column(Float)
    checkpoint_path: Mapped[str] = mapped_column(Text)
    checkpoint_step: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]

    __table_args__ = (
        ForeignKeyConstraint(
            ["sweep_id", "trial_id"], ["trials.sweep_id", "trials.trial_id"], ondelete="CASCADE"
        ),
        Index(
            "ix_trial_rungs_leaderboard",
            "sweep_id",
            "rung",
            "rank_group",
            "rank_value",
            "rank_tie",
            "trial_index",
        ),
    )


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    sweep_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    trial_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    rung: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[float] = mapped_column(Float)
    path: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]

    __table_args__ = (
        ForeignKeyConstraint(
            ["sweep_id", "trial_id"], ["trials.sweep_id", "trials.trial_id"], ondelete="CASCADE"
        ),
    )


# Successive-halving order: usable first, the highest scored rung first, then best value.
Index(
    "ix_trials_leaderboard",
    Trial.sweep_id,
    Trial.rank_group,
    Trial.scored_rung.desc(),
    Trial.rank_value,
    Trial.rank_tie,
    Trial.trial_index,
)
# The same order within one status: a rare status (failed) is found without walking the
# whole sweep, and its COUNT is an index-only scan.
Index(
    "ix_trials_status_leaderboard",
    Trial.sweep_id,
    Trial.status,
    Trial.rank_group,
    Trial.scored_rung.desc(),
    Trial.rank_value,
    Trial.rank_tie,
    Trial.trial_index,
)


# Core handles of the tables, for the statements of the repositories.
SWEEPS: Table = Sweep.__table__  # type: ignore[assignment]
TRIALS: Table = Trial.__table__  # type: ignore[assignment]
TRIAL_RUNGS: Table = TrialRung.__table__  # type: ignore[assignment]
CHECKPOINTS: Table = Checkpoint.__table__  # type: ignore[assignment]


# ---- webhooks ---------------------------------------------------------------------------------
# Not part of the mirror: these rows are the service's own records (endpoints and every
# delivery attempt), written by the API and the delivery activity.

_ATTEMPT_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON, comment="Event types sent to it.")
    sweep_id: Mapped[str | None] = mapped_column(
        String(200), comment="The sweep whose request named it; NULL: every sweep."
    )
    position: Mapped[int | None] = mapped_column(
        Integer, comment="Index in the request's webhooks list."
    )
    description: Mapped[str | None] = mapped_column(String(200))
    secret_encrypted: Mapped[str] = mapped_column(Text, comment="Fernet token, never plain.")
    previous_secret_encrypted: Mapped[str | None] = mapped_column(
        Text, comment="Also signs until previous_secret_expires_at (rotation grace)."
    )
    previous_secret_expires_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), comment="active, disabled or deleted.")
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("sweep_id", "position"),
        Index(None, "status", "sweep_id"),
    )


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(
        String(40), primary_key=True, comment="The webhook-id header: same on every attempt."
    )
    endpoint_id: Mapped[str] = mapped_column(String(40))
    sweep_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(comment="The event, as first sent.")
    state: Mapped[str] = mapped_column(String(16), comment="pending, delivered or failed.")
    attempt_count: Mapped[int] = mapped_column(Integer)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoints.id"], ondelete="CASCADE"),
        Index(None, "sweep_id", "created_at"),
    )


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(_ATTEMPT_ID, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(40))
    number: Mapped[int] = mapped_column(Integer, comment="1 for the first attempt.")
    started_at: Mapped[datetime]
    duration_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text, comment="First 1 KiB.")
    error: Mapped[str | None] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(
        String(16), comment="delivered, retry, failed, gone or refused."
    )
    peer: Mapped[str | None] = mapped_column(String(64), comment="Address connected to.")

    __table_args__ = (
        ForeignKeyConstraint(["delivery_id"], ["webhook_deliveries.id"], ondelete="CASCADE"),
        Index(None, "delivery_id", "number"),
    )


WEBHOOK_ENDPOINTS: Table = WebhookEndpoint.__table__  # type: ignore[assignment]
WEBHOOK_DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[assignment]
WEBHOOK_ATTEMPTS: Table = WebhookAttempt.__table__  # type: ignore[assignment]


# ---- access control ---------------------------------------------------------------------------
# The service's own records, like webhooks: never rebuilt from the mirror. Sweep owners are
# also in each workflow's memo, from which `sweeps reindex` restores them.


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    principal: Mapped[str] = mapped_column(String(64), comment="The name that owns its sweeps.")
    token_hash: Mapped[str] = mapped_column(
        String(64), unique=True, comment="SHA-256 of the token, hex; the token is never stored."
    )
    admin: Mapped[bool] = mapped_column(Boolean, comment="Sees every sweep; manages tokens.")
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index(None, "principal"),)


class SweepOwner(Base):
    __tablename__ = "sweep_owners"

    sweep_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    principal: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    __table_args__ = (Index(None, "principal", "sweep_id"),)


API_TOKENS: Table = ApiToken.__table__  # type: ignore[assignment]
SWEEP_OWNERS: Table = SweepOwner.__table__  # type: ignore[assignment]
