"""`sweeps migrate` and `sweeps reindex` as a user runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import inspect
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from app.cli import cli
from app.db import make_engine
from app.db.migrate import current_revision, head_revision
from tests.api.conftest import wipe_index
from tests.api.test_results_api import finished_sweep, leaderboard_when_final, without_write_times


def test_migrate_creates_the_embedded_index(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["migrate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    url = f"sqlite+pysqlite:///{tmp_path.resolve() / 'index.db'}"
    assert current_revision(url) == head_revision()
    engine = make_engine(url)
    try:
        assert {"sweeps", "trials", "trial_rungs", "checkpoints"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()
    again = CliRunner().invoke(cli, ["migrate", "--data-dir", str(tmp_path)])
    assert again.exit_code == 0  # idempotent


def test_migrate_reports_an_unreachable_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["migrate", "--data-dir", str(tmp_path)],
        env={"SWEEPS_DATABASE_URL": "postgresql://postgres@127.0.0.1:9/none"},
    )
    assert result.exit_code == 2
    assert "unreachable" in result.output


async def test_reindex_command_rebuilds_one_sweep(
    indexed_api: tuple[httpx.AsyncClient, str], dev_client: WorkflowEnvironment
) -> None:
    api, url = indexed_api
    sweep_id = await finished_sweep(api)
    before = await leaderboard_when_final(api, sweep_id, "?limit=50")
    wipe_index(url)

    address = dev_client.client.service_client.config.target_host
    # In a thread: the command runs its own event loop, as it does from a shell.
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["reindex", sweep_id],
        env={"SWEEPS_TEMPORAL_ADDRESS": address, "SWEEPS_DATABASE_URL": url},
    )
    assert result.exit_code == 0, result.output
    assert f"reindexed {sweep_id}: 6 trials" in result.output
    after = (await api.get(f"/sweeps/{sweep_id}/leaderboard?limit=50")).json()
    assert without_write_times(after["items"]) == without_write_times(before["items"])


def test_token_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["token", "create", "--name", "ci", "--data-dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("swp_") and len(token) == 47
    admin = runner.invoke(
        cli, ["token", "create", "--name", "root", "--admin", "--data-dir", str(tmp_path)]
    )
    assert admin.exit_code == 0
    listed = runner.invoke(cli, ["token", "list", "--data-dir", str(tmp_path)])
    assert listed.exit_code == 0 and "ci" in listed.stdout and "admin" in listed.stdout
    assert token not in listed.stdout
    assert token not in (tmp_path / "index.db").read_bytes().decode("latin-1")
    revoked = runner.invoke(cli, ["token", "revoke", token, "--data-dir", str(tmp_path)])
    assert revoked.exit_code == 0, revoked.output
    again = runner.invoke(cli, ["token", "revoke", token, "--data-dir", str(tmp_path)])
    assert again.exit_code == 1
    bad = runner.invoke(cli, ["token", "create", "--name", "Bad Name", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "--name" in bad.output
