"""Fault drills on a live embedded stack with real training: whatever dies, no work is lost.

1. `kill -9` the training worker mid-trial: the trial resumes from its latest checkpoint and
   ends with the metrics of an uninterrupted run.
2. `kill -9` the orchestration worker and the API: nothing lost, nothing trained twice.
3. Stop and restart the Temporal server (its database persists): the sweep completes.
4. Stop PostgreSQL under the results index: mirror writes retry, the leaderboard answers 503
   meanwhile, and afterwards the index holds every result.
5. Delete the index database and run `sweeps reindex`: the leaderboards come back identical.

`make test` runs them in a reduced size; `make faults` runs the full size (drills.FULL)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.cli.embedded import EmbeddedStack, free_port
from app.temporal import contract
from app.temporal.client import connect
from tests.e2e.drills import (
    CHECKPOINT_EVERY,
    Driver,
    embedded_stack,
    scaled,
    tiny_sweep,
    training_log,
    wait_for_checkpoint,
)
from tests.e2e.postgres_cluster import PostgresCluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.faults]

BUDGET = int(scaled(140, 600))


def sweep(name: str, trials: int = 1, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ladder": {"unit": "steps", "trials": trials, "rungs": [{"budget": BUDGET}]},
        "max_concurrency": 1,
        "seed": 11,
    }
    return tiny_sweep(name, 800, 200, **(fields | changes))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    # A short heartbeat timeout: the server notices a killed training worker sooner.
    data_dir = tmp_path_factory.mktemp("faults")
    with embedded_stack(data_dir, training_heartbeat_timeout_seconds=10) as running:
        yield running


def run_with_kills(drive: Driver, body: dict[str, Any], kill: tuple[str, ...]) -> dict[str, Any]:
    """Run ``body``; once its first trial reported a checkpoint, SIGKILL ``kill`` and start
    them again."""
    sweep_id = drive.submit(body)
    wait_for_checkpoint(drive.stack, sweep_id, "t0000", 0, CHECKPOINT_EVERY)
    for name in kill:
        drive.stack.kill(name)
    for name in kill:
        drive.stack.restart(name)
    assert drive.wait_until_ended(sweep_id)["status"] == "completed"
    return drive.result(sweep_id)


def test_killed_training_worker_resumes_from_its_checkpoint(drive: Driver) -> None:
    uninterrupted = drive.run(sweep("uninterrupted"))
    killed = run_with_kills(drive, sweep("training-killed"), kill=("training",))

    a, b = uninterrupted["trials"][0], killed["trials"][0]
    assert a["params"] == b["params"]
    assert b["rungs"][0]["global_step"] == BUDGET
    for metric in ("accuracy", "f1_macro", "eval_loss"):
        assert b["metrics"][metric] == pytest.approx(a["metrics"][metric], abs=1e-6), metric

    # The retry resumed from a checkpoint at or after the one seen before the kill, so at
    # most one checkpoint interval of work was done twice.
    sweep_id = re.escape(killed["sweep_id"])
    log = training_log(drive.stack)
    attempts = re.findall(rf"activity\.fine_tune\.start sweep_id={sweep_id} .*?attempt=(\d+)", log)
    resumed_at = re.findall(
        rf"(?<!activity\.)fine_tune\.start sweep_id={sweep_id} .*?resume_step=(\d+)", log
    )
    assert [int(n) for n in attempts] == [1, 2]
    assert int(resumed_at[0]) == 0 and int(resumed_at[1]) >= CHECKPOINT_EVERY


def test_killed_orchestration_worker_and_api_lose_nothing(drive: Driver) -> None:
    result = run_with_kills(
        drive, sweep("orchestration-killed", trials=2), ("orchestration", "api")
    )
    assert [t["status"] for t in result["trials"]] == ["completed", "completed"]
    assert all(t["rungs"][0]["global_step"] == BUDGET for t in result["trials"])
    log = training_log(drive.stack)
    for trial in result["trials"]:
        done = (
            rf"(?<!activity\.)fine_tune\.done sweep_id={re.escape(result['sweep_id'])} "
            rf"trial_id={trial['trial_id']} .*stopped=budget"
        )
        assert len(re.findall(done, log)) == 1, f"{trial['trial_id']} trained to completion twice"


def test_restarted_temporal_server_sweep_completes(drive: Driver) -> None:
    sweep_id = drive.submit(sweep("server-restarted", trials=2))
    wait_for_checkpoint(drive.stack, sweep_id, "t0000", 0, CHECKPOINT_EVERY)
    # Killed outright: what the server acknowledged is in its SQLite write-ahead log.
    drive.stack.kill("temporal", signal.SIGKILL)
    time.sleep(scaled(3, 15))
    drive.stack.restart("temporal")

    assert drive.wait_until_ended(sweep_id)["status"] == "completed"
    result = drive.result(sweep_id)
    assert [t["status"] for t in result["trials"]] == ["completed", "completed"]
    assert all(t["rungs"][0]["global_step"] == BUDGET for t in result["trials"])


def test_deleted_index_is_rebuilt_identical_by_reindex(drive: Driver) -> None:
    stack = drive.stack
    if not drive.api.get("/sweeps").json()["items"]:  # run alone: make something to index
        drive.run(sweep("to-reindex"))
    before = leaderboards(drive)
    assert before

    # The index is the embedded SQLite file: stop the API, delete the file, rebuild it (the
    # orchestration worker answers the rebuild's queries), then restart both processes that
    # held the old file open.
    stack.kill("api", signal.SIGTERM)
    index = stack.settings.data_dir.resolve() / "index.db"
    for path in index.parent.glob("index.db*"):
        path.unlink()
    rebuilt = subprocess.run(
        [sweeps_cli(), "reindex", "--data-dir", str(stack.settings.data_dir)],
        env={**os.environ, "SWEEPS_TEMPORAL_ADDRESS": stack.address},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    stack.kill("orchestration", signal.SIGTERM)
    stack.restart("orchestration")
    stack.restart("api")
    # API tokens lived in the deleted database too (sweep owners come back from Temporal).
    stack.admin_token = stack.create_token("drill-admin", admin=True)
    drive.api.headers.update(stack.auth_headers())

    assert leaderboards(drive) == before


def sweeps_cli() -> str:
    return str(Path(sys.executable).parent / "sweeps")


def leaderboards(drive: Driver) -> dict[str, list[dict[str, Any]]]:
    """Every sweep's full leaderboard, without the row timestamps a rebuild renews."""
    boards = {}
    for row in drive.api.get("/sweeps", params={"limit": 100}).json()["items"]:
        board = drive.api.get(f"/sweeps/{row['sweep_id']}/leaderboard", params={"limit": 100})
        assert board.status_code == 200, board.text
        boards[row["sweep_id"]] = [
            {k: v for k, v in item.items() if k != "updated_at"} for item in board.json()["items"]
        ]
    return boards


# ---- drill 4: the results index's database goes away -----------------------------------------


@pytest.fixture
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(free_port())
    try:
        cluster.init()
        cluster.start()
        cluster.create_database("sweeps_index")
        yield cluster
    finally:
        cluster.remove()


def test_postgres_outage_is_retried_and_the_index_completes(
    postgres: PostgresCluster, tmp_path: Path
) -> None:
    outage = scaled(8, 30)
    with (
        embedded_stack(tmp_path, database_url=postgres.url("sweeps_index")) as stack,
        Driver(stack) as drive,
    ):
        sweep_id = drive.submit(sweep("index-outage", trials=2))
        # Late in the first trial, so that it finishes, and the index is written, meanwhile.
        near_the_end = BUDGET - 2 * CHECKPOINT_EVERY
        wait_for_checkpoint(stack, sweep_id, "t0000", 0, near_the_end)
        postgres.stop()
        # Down for the outage's length, and until a mirror write has failed at least once
        # (on a loaded machine the trial may take longer than the outage to finish).
        codes = poll_leaderboard(
            drive, sweep_id, seconds=outage, until=lambda: mirror_failing(stack, sweep_id)
        )
        postgres.start()

        assert 503 in codes and 500 not in codes, codes
        assert drive.wait_until_ended(sweep_id)["status"] == "completed"
        result = drive.result(sweep_id)
        board = wait_for_index(drive, sweep_id, result)
        indexed = {row["trial_id"]: (row["status"], row["objective_value"]) for row in board}
        assert indexed == {
            t["trial_id"]: ("completed", pytest.approx(t["objective_value"]))
            for t in result["trials"]
        }
        assert mirror_retries(stack, sweep_id) > 0, "no mirror write failed during the outage"


def poll_leaderboard(
    drive: Driver,
    sweep_id: str,
    seconds: float,
    until: Callable[[], bool] = lambda: True,
    longest: float = 240,
) -> list[int]:
    """Leaderboard status codes for ``seconds``, and then until ``until()`` (at most
    ``longest`` seconds in all)."""
    codes = []
    started = time.monotonic()
    while time.monotonic() - started < longest:
        codes.append(drive.api.get(f"/sweeps/{sweep_id}/leaderboard").status_code)
        if time.monotonic() - started >= seconds and until():
            break
        time.sleep(0.5)
    return codes


def mirror_failing(stack: EmbeddedStack, sweep_id: str) -> bool:
    """Whether the sweep's mirror activity is pending after a failed attempt."""

    async def check() -> bool:
        client = await connect(stack.child_settings(), wait_seconds=10)
        description = await client.get_workflow_handle(sweep_id).describe()
        return any(
            pending.activity_type.name == contract.MIRROR_RESULTS and pending.attempt > 1
            for pending in description.raw_description.pending_activities
        )

    return asyncio.run(check())


def wait_for_index(
    drive: Driver, sweep_id: str, result: dict[str, Any], timeout: float = 60
) -> list[dict[str, Any]]:
    """The leaderboard once the index has caught up with the workflow's final result."""
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        answer = drive.api.get(f"/sweeps/{sweep_id}/leaderboard")
        if answer.status_code == 200:
            items = answer.json()["items"]
            statuses = {row["trial_id"]: row["status"] for row in items}
            if statuses == {t["trial_id"]: t["status"] for t in result["trials"]}:
                return items
        time.sleep(1)
    raise AssertionError(f"the index did not catch up: {items}")


def mirror_retries(stack: EmbeddedStack, sweep_id: str) -> int:
    """How many mirror activity attempts of the sweep were retries, from its history."""

    async def count() -> int:
        client = await connect(stack.child_settings(), wait_seconds=10)
        history = await client.get_workflow_handle(sweep_id).fetch_history()
        mirror_ids = set()
        retries = 0
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                scheduled = event.activity_task_scheduled_event_attributes
                if scheduled.activity_type.name == contract.MIRROR_RESULTS:
                    mirror_ids.add(event.event_id)
            if event.HasField("activity_task_started_event_attributes"):
                started = event.activity_task_started_event_attributes
                if started.scheduled_event_id in mirror_ids and started.attempt > 1:
                    retries += started.attempt - 1
        return retries

    return asyncio.run(count())
