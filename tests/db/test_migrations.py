"""Migrations build the schema the models describe, from an empty database, on both backends."""

from __future__ import annotations

import math

from alembic import command
from sqlalchemy import Engine, inspect, text

from app.db import leaderboard, make_engine, mirror_sweep, session_scope
from app.db.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    schema_drift,
    upgrade_to_head,
)
from app.domain import TrialMetrics, TrialStatus
from tests.db.factories import sweep, trial


def test_upgrade_from_empty_matches_the_models(empty_url: str) -> None:
    assert current_revision(empty_url) is None
    upgrade_to_head(empty_url)
    assert current_revision(empty_url) == head_revision() == "0004"
    assert schema_drift(empty_url) == []
    upgrade_to_head(empty_url)  # idempotent
    assert current_revision(empty_url) == "0004"
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


def test_0004_fills_rank_tie_of_existing_rows_from_their_stored_loss(empty_url: str) -> None:
    """Rows written before 0004 get their loss as rank_tie (none: after every real one)."""
    upgrade_to_head(empty_url)
    tied = [trial(i, TrialStatus.COMPLETED, [0.415]) for i in range(3)]
    losses = [1.2, 1.1, math.nan]
    for n, loss in enumerate(losses):
        scored = TrialMetrics(accuracy=0.415, f1_macro=0.2, eval_loss=loss, num_examples=100)
        rungs = [tied[n].rungs[0].model_copy(update={"metrics": scored})]
        tied[n] = tied[n].model_copy(update={"metrics": scored, "rungs": rungs})
    engine = make_engine(empty_url)
    try:
        with session_scope(engine) as session:
            mirror_sweep(session, sweep("sw-old", tied))
        expected = dump_ties(engine)
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0003")
        assert "rank_tie" not in {c["name"] for c in inspect(engine).get_columns("trials")}
        upgrade_to_head(empty_url)
        assert dump_ties(engine) == expected == [(0, 1.2, 1.2), (1, 1.1, 1.1), (2, 1e300, 1e300)]
        with session_scope(engine) as session:
            board = leaderboard(session, "sw-old").items
        assert [row.trial_id for row in board] == ["t0001", "t0000", "t0002"]
    finally:
        engine.dispose()
    assert schema_drift(empty_url) == []


def dump_ties(engine: Engine) -> list[tuple[int, float, float]]:
    """(trial index, the trial's rank_tie, its rung 0 result's rank_tie)."""
    sql = (
        "SELECT t.trial_index, t.rank_tie, r.rank_tie FROM trials t JOIN trial_rungs r "
        "ON r.sweep_id = t.sweep_id AND r.trial_id = t.trial_id ORDER BY t.trial_index"
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]  # type: ignore[misc]
