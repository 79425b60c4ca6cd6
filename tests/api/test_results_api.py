"""Leaderboard, sweep list and trial detail from the results index, on SQLite and on the
real Postgres, filled by the real mirror activity as real workflows run."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from app.api import create_app
from app.db import make_engine, session_scope
from app.db.access import create_token
from app.db.reindex import reindex
from app.temporal import contract
from tests.api.conftest import bearer, serve, settings_for, wipe_index
from tests.api.test_sweeps_api import sweep_body, wait_until_ended

LADDER = {
    "unit": "steps",
    "trials": 6,
    "rungs": [{"budget": 10, "keep": 3}, {"budget": 30, "keep": 1}, {"budget": 90}],
}


async def finished_sweep(api: httpx.AsyncClient, **overrides: Any) -> str:
    response = await api.post("/sweeps", json=sweep_body(ladder=LADDER, **overrides))
    assert response.status_code == 201, response.text
    sweep_id: str = response.json()["sweep_id"]
    assert (await wait_until_ended(api, sweep_id))["status"] == "completed"
    return sweep_id


async def leaderboard_when_final(
    api: httpx.AsyncClient, sweep_id: str, query: str = ""
) -> dict[str, Any]:
    """The mirror writes just after the workflow's last step; give it a moment."""
    for _ in range(100):
        response = await api.get(f"/sweeps/{sweep_id}/leaderboard{query}")
        if response.status_code == 200:
            board: dict[str, Any] = response.json()
            if board["items"] and board["items"][0]["status"] == "completed":
                return board
        await asyncio.sleep(0.05)
    raise AssertionError(f"leaderboard of {sweep_id} never became final")


async def test_leaderboard_ranks_the_ladder(indexed_api: tuple[httpx.AsyncClient, str]) -> None:
    api, _ = indexed_api
    sweep_id = await finished_sweep(api)
    result = (await api.get(f"/sweeps/{sweep_id}/result")).json()
    board = await leaderboard_when_final(api, sweep_id)

    assert board["total"] == 6 and board["metric"] == "accuracy"
    ranked = [row["trial_id"] for row in board["items"]]
    assert ranked[0] == result["best"]["trial_id"]
    assert [row["rank"] for row in board["items"]] == [1, 2, 3, 4, 5, 6]
    # Successive-halving order: the rung-2 winner, then rung-1 trials, then rung-0 ones.
    assert [row["scored_rung"] for row in board["items"]] == [2, 1, 1, 0, 0, 0]
    rung1 = [row for row in board["items"] if row["scored_rung"] == 1]
    assert rung1[0]["objective_value"] >= rung1[1]["objective_value"]
    top = board["items"][0]
    assert top["checkpoint"]["step"] == 90 and top["metrics"]["accuracy"] == top["objective_value"]

    at_rung0 = (await api.get(f"/sweeps/{sweep_id}/leaderboard?rung=0")).json()
    values = [row["objective_value"] for row in at_rung0["items"]]
    assert len(values) == 6 and values == sorted(values, reverse=True)
    pruned = (
        await api.get(f"/sweeps/{sweep_id}/leaderboard?status=pruned&limit=2&offset=1")
    ).json()
    assert [row["status"] for row in pruned["items"]] == ["pruned", "pruned"]
    assert pruned["total"] == 5 and pruned["items"][0]["rank"] == 2


async def test_sweep_list_and_trial_detail(indexed_api: tuple[httpx.AsyncClient, str]) -> None:
    api, _ = indexed_api
    sweep_id = await finished_sweep(api, name="listed-sweep")
    await leaderboard_when_final(api, sweep_id)

    listed = (await api.get("/sweeps?name=listed-sweep&status=completed")).json()
    assert [item["sweep_id"] for item in listed["items"]] == [sweep_id]
    assert listed["items"][0]["best_trial_id"] is not None
    assert (await api.get("/sweeps?status=running&name=listed-sweep")).json()["items"] == []

    trials = (await api.get(f"/sweeps/{sweep_id}/trials")).json()
    assert [t["trial_id"] for t in trials] == [f"t000{i}" for i in range(6)]
    winner = (await api.get(f"/sweeps/{sweep_id}/leaderboard?limit=1")).json()["items"][0]
    detail = (await api.get(f"/sweeps/{sweep_id}/trials/{winner['trial_id']}")).json()
    assert [r["rung"] for r in detail["rungs"]] == [0, 1, 2]
    assert [r["global_step"] for r in detail["rungs"]] == [10, 30, 90]
    assert {c["step"] for c in detail["checkpoints"]} >= {10, 30, 90}

    assert (await api.get("/sweeps/nope/leaderboard")).status_code == 404
    assert (await api.get(f"/sweeps/{sweep_id}/trials/t0999")).status_code == 404
    assert (await api.get(f"/sweeps/{sweep_id}/leaderboard?limit=0")).status_code == 422
    assert (await api.get(f"/sweeps/{sweep_id}/leaderboard?offset=-1")).status_code == 422


async def test_reindex_rebuilds_the_same_leaderboard(
    indexed_api: tuple[httpx.AsyncClient, str], dev_client: WorkflowEnvironment
) -> None:
    api, url = indexed_api
    sweep_id = await finished_sweep(api)
    before = await leaderboard_when_final(api, sweep_id, "?limit=50")

    wipe_index(url)
    assert (await api.get(f"/sweeps/{sweep_id}/leaderboard")).status_code == 404
    engine = make_engine(url)
    try:
        assert sweep_id in await reindex(dev_client.client, engine)
    finally:
        engine.dispose()
    after = (await api.get(f"/sweeps/{sweep_id}/leaderboard?limit=50")).json()
    assert without_write_times(after["items"]) == without_write_times(before["items"])
    assert len(after["items"]) == 6


def without_write_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "updated_at"} for row in rows]


async def test_index_down_is_503_with_retry_after(
    tmp_path: Path, dev_client: WorkflowEnvironment
) -> None:
    settings = settings_for(tmp_path, database_url="postgresql://postgres@127.0.0.1:9/none")
    async with serve(create_app(settings, temporal=dev_client.client)) as api:
        for path in ("/sweeps", "/sweeps/any/leaderboard", "/sweeps/any/trials"):
            response = await api.get(path)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["Retry-After"] == "5"
            assert "index" in response.json()["detail"]
        ready = await api.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["index"].startswith("unreachable")
        assert ready.json()["checks"]["temporal"] == "ok"


async def test_reindex_restores_owners_from_the_workflow_memo(
    indexed_api: tuple[httpx.AsyncClient, str], dev_client: WorkflowEnvironment
) -> None:
    """The index database lost everything, owners included: a principal gets its sweeps
    back from Temporal, the source of truth, and still nobody else's."""
    api, url = indexed_api
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            _, alice = create_token(session, "alice", admin=False)
            _, bob = create_token(session, "bob", admin=False)
        # The same app, another principal's token.
        as_alice = httpx.AsyncClient(
            transport=api._transport, base_url="http://api", headers=bearer(alice)
        )
        async with as_alice:
            sweep_id = await finished_sweep(as_alice)
            await leaderboard_when_final(as_alice, sweep_id)
            wipe_index(url)
            assert (await as_alice.get(f"/sweeps/{sweep_id}")).status_code == 404
            assert sweep_id in await reindex(dev_client.client, engine)
            assert (await as_alice.get(f"/sweeps/{sweep_id}")).status_code == 200
            await leaderboard_when_final(as_alice, sweep_id)
        as_bob = await api.get(f"/sweeps/{sweep_id}", headers=bearer(bob))
        assert as_bob.status_code == 404
    finally:
        engine.dispose()


async def test_a_sweep_terminated_before_it_ran_is_404_and_skipped_by_reindex(
    indexed_api: tuple[httpx.AsyncClient, str], dev_client: WorkflowEnvironment
) -> None:
    api, url = indexed_api
    sweep_id = f"never-ran-{uuid.uuid4().hex[:8]}"
    handle = await dev_client.client.start_workflow(
        contract.LADDER_SWEEP_WORKFLOW, id=sweep_id, task_queue="nobody-polls-this"
    )
    await handle.terminate("operator")
    answer = await api.get(f"/sweeps/{sweep_id}")
    assert answer.status_code == 404, answer.text
    engine = make_engine(url)
    try:
        assert await reindex(dev_client.client, engine, sweep_id) == []
    finally:
        engine.dispose()
