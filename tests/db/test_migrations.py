"""Migrations build the schema the models describe, from an empty database, on both backends."""

from __future__ import annotations

from sqlalchemy import inspect

from app.db import make_engine
from app.db.migrate import current_revision, head_revision, schema_drift, upgrade_to_head


def test_upgrade_from_empty_matches_the_models(empty_url: str) -> None:
    assert current_revision(empty_url) is None
    upgrade_to_head(empty_url)
    assert current_revision(empty_url) == head_revision() == "0003"
    assert schema_drift(empty_url) == []
    upgrade_to_head(empty_url)  # idempotent
    assert current_revision(empty_url) == "0003"
    engine = make_engine(empty_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables == {
        "alembic_version", "sweeps", "trials", "trial_rungs", "checkpoints",
        "webhook_endpoints", "webhook_deliveries", "webhook_attempts", "api_tokens", "sweep_owners",
    }  # fmt: skip


def test_drift_is_detected(empty_url: str) -> None:
    """The no-drift check above would catch a model change without a migration."""
    upgrade_to_head(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP INDEX ix_trials_leaderboard")
    finally:
        engine.dispose()
    drift = schema_drift(empty_url)
    assert [d[0] for d in drift] == ["add_index"]
    assert drift[0][1].name == "ix_trials_leaderboard"
