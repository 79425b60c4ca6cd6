"""POST /sweeps, GET /sweeps/{id}, control endpoints and their errors."""

from __future__ import annotations

import asyncio
import copy
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from app.api import create_app
from tests.api.conftest import serve, settings_for
from tests.workflows.fakes import FakeTraining


def sweep_body(name: str | None = None, trials: int = 3, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name or f"api-{uuid.uuid4().hex[:8]}",
        "model": {"source": "tiny-bert"},
        "dataset": {"source": "tweet-sentiment"},
        "space": {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}},
        "ladder": {"unit": "steps", "trials": trials, "rungs": [{"budget": 10}]},
        "max_concurrency": 2,
        "seed": 3,
    }
    body.update(overrides)
    return body


async def wait_until_ended(
    api: httpx.AsyncClient, sweep_id: str, timeout: float = 60
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        view = (await api.get(f"/sweeps/{sweep_id}")).json()
        if view["status"] not in ("running", "paused"):
            return view  # type: ignore[no-any-return]
        # Not faster: every query is a task for the worker that also runs the workflow.
        await asyncio.sleep(0.2)
    raise AssertionError(f"sweep {sweep_id} did not end within {timeout:.0f} s")


async def count_workflows(client: Client, name: str) -> int:
    return len([w async for w in client.list_workflows(f"WorkflowId STARTS_WITH '{name}'")])


async def test_post_starts_a_sweep_and_get_follows_it(api: httpx.AsyncClient) -> None:
    response = await api.post("/sweeps", json=sweep_body())
    assert response.status_code == 201, response.text
    created = response.json()
    sweep_id = created["sweep_id"]
    assert created["created"] is True and created["workflow"] == "LadderSweepWorkflow"
    assert created["links"]["status"] == f"/sweeps/{sweep_id}"
    assert created["links"]["temporal_ui"].endswith(f"/namespaces/default/workflows/{sweep_id}")

    view = await wait_until_ended(api, sweep_id)
    assert view["status"] == "completed"
    assert view["trials"] == {
        "pending": 0,
        "running": 0,
        "paused": 0,
        "rung_done": 0,
        "finished": 3,
        "total": 3,
    }
    assert view["best"]["trial_id"] in {"t0000", "t0001", "t0002"}
    assert view["started_at"] and view["ended_at"]


async def test_random_strategy_starts_sweep_workflow(api: httpx.AsyncClient) -> None:
    response = await api.post("/sweeps", json=sweep_body(strategy="random"))
    assert response.status_code == 201
    assert response.json()["workflow"] == "SweepWorkflow"
    assert (await wait_until_ended(api, response.json()["sweep_id"]))["status"] == "completed"


async def test_invalid_body_names_the_field_and_starts_nothing(
    api: httpx.AsyncClient, temporal_client: Client
) -> None:
    name = f"invalid-{uuid.uuid4().hex[:8]}"
    body = sweep_body(name=name, max_concurrency=0)
    body["space"]["learning_rate"]["low"] = 1.0
    response = await api.post("/sweeps", json=body)
    assert response.status_code == 422
    payload = response.json()
    fields = {e["field"] for e in payload["errors"]}
    assert {"space.learning_rate", "max_concurrency"} <= fields
    assert "max_concurrency" in payload["detail"]
    assert await count_workflows(temporal_client, name) == 0


async def test_idempotency_key(api: httpx.AsyncClient) -> None:
    body = sweep_body()
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await api.post("/sweeps", json=body, headers=key)
    again = await api.post("/sweeps", json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["sweep_id"] == again.json()["sweep_id"]
    assert again.json()["created"] is False

    changed = copy.deepcopy(body)
    changed["seed"] = 4
    conflict = await api.post("/sweeps", json=changed, headers=key)
    assert conflict.status_code == 422
    assert "Idempotency-Key" in conflict.json()["detail"]

    without_key = [await api.post("/sweeps", json=body) for _ in range(2)]
    assert without_key[0].json()["sweep_id"] != without_key[1].json()["sweep_id"]


async def test_unknown_sweep_and_trial_are_404(api: httpx.AsyncClient) -> None:
    assert (await api.get("/sweeps/no-such-sweep")).status_code == 404
    assert (await api.post("/sweeps/no-such-sweep/pause")).status_code == 404
    assert (await api.post("/sweeps/no-such-sweep/cancel")).status_code == 404

    sweep_id = (await api.post("/sweeps", json=sweep_body(trials=2))).json()["sweep_id"]
    missing = await api.post(f"/sweeps/{sweep_id}/trials/t0099/cancel")
    assert missing.status_code == 404, missing.text
    assert "t0099" in missing.json()["detail"]
    malformed = await api.post(f"/sweeps/{sweep_id}/trials/bogus/cancel")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "path.trial_id"


async def test_control_on_an_ended_sweep_is_409(api: httpx.AsyncClient) -> None:
    sweep_id = (await api.post("/sweeps", json=sweep_body(trials=1))).json()["sweep_id"]
    await wait_until_ended(api, sweep_id)
    for path in ("pause", "resume", "checkpoint", "cancel", "trials/t0000/cancel"):
        response = await api.post(f"/sweeps/{sweep_id}/{path}")
        assert response.status_code == 409, (path, response.text)
        assert "ended" in response.json()["detail"]


async def test_pause_checkpoint_resume_and_cancel_through_the_api(
    api: httpx.AsyncClient, fake: FakeTraining
) -> None:
    # Each trial trains this long: the window in which t0000 runs must outlast a few polls.
    fake.step_seconds = 4.0
    body = sweep_body(trials=3, max_concurrency=1)
    sweep_id = (await api.post("/sweeps", json=body)).json()["sweep_id"]
    # t0000 running and t0001 proposed (one trial at a time: each is a wave of its own; t0002
    # is proposed once t0000 has ended).
    for _ in range(200):
        counts = (await api.get(f"/sweeps/{sweep_id}")).json()["trials"]
        if counts["running"] == 1 and counts["total"] == 2:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"never saw t0000 running with t0001 proposed; last: {counts}")

    checkpoint = await api.post(f"/sweeps/{sweep_id}/checkpoint", json={"trial_id": "t0000"})
    assert checkpoint.status_code == 200 and checkpoint.json()["trial_ids"] == ["t0000"]
    not_running = await api.post(f"/sweeps/{sweep_id}/checkpoint", json={"trial_id": "t0001"})
    assert not_running.status_code == 409
    not_proposed = await api.post(f"/sweeps/{sweep_id}/checkpoint", json={"trial_id": "t0002"})
    assert not_proposed.status_code == 404 and "not proposed yet" in not_proposed.text

    paused = await api.post(f"/sweeps/{sweep_id}/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    cancelled = await api.post(f"/sweeps/{sweep_id}/trials/t0001/cancel")
    assert cancelled.status_code == 200
    assert (await api.post(f"/sweeps/{sweep_id}/resume")).json()["paused"] is False

    view = await wait_until_ended(api, sweep_id)
    assert view["status"] == "completed"
    assert view["trials"]["finished"] == 3


async def test_cancel_sweep(api: httpx.AsyncClient, fake: FakeTraining) -> None:
    fake.step_seconds = 2.0
    sweep_id = (await api.post("/sweeps", json=sweep_body(trials=2))).json()["sweep_id"]
    response = await api.post(f"/sweeps/{sweep_id}/cancel")
    assert response.status_code == 202
    assert response.json() == {"sweep_id": sweep_id, "status": "cancelling"}
    view = await wait_until_ended(api, sweep_id)
    assert view["status"] == "cancelled"


async def test_temporal_unreachable_is_503_and_not_ready(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, temporal_address="127.0.0.1:9")
    async with serve(create_app(settings)) as api:
        response = await api.post("/sweeps", json=sweep_body())
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        assert "Temporal" in response.json()["detail"]
        assert (await api.get("/healthz")).status_code == 200
        ready = await api.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["temporal"].startswith("unreachable")


async def test_ready_and_docs(api: httpx.AsyncClient) -> None:
    ready = await api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["temporal"] == "ok"
    assert (await api.get("/docs")).status_code == 200
    schema = (await api.get("/openapi.json")).json()
    post = schema["paths"]["/sweeps"]["post"]
    assert {"201", "200", "409", "422", "503"} <= set(post["responses"])
