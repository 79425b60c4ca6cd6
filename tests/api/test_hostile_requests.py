"""Hostile and malformed requests: each gets a 4xx with a message, and no workflow starts.

The app runs by its factory on a real index with the real dev server; "no workflow
started" is checked by asking Temporal for workflows started during each request.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from app.api import create_app
from tests.api.conftest import bearer, mint_token, serve, settings_for
from tests.api.test_sweeps_api import sweep_body

MiB = 1024 * 1024


@pytest.fixture
async def hostile(
    dev_client: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI, WorkflowEnvironment]]:
    settings = settings_for(tmp_path, max_trials_per_sweep=50, max_concurrency=8, max_rungs=4)
    app = create_app(settings, temporal=dev_client.client)
    async with serve(app, principal="mallory") as api:
        # mallory is an admin in `serve`; hostile input is checked for everyone alike.
        yield api, app, dev_client


def _raw(body: bytes | str) -> dict[str, Any]:
    content = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return {"content": content, "headers": {"content-type": "application/json"}}


def _with(**changes: Any) -> dict[str, Any]:
    return {"json": sweep_body(**changes)}


def _deep(levels: int) -> bytes:
    return b'{"name": ' + b"[" * levels + b"]" * levels + b"}"


# (id, keyword arguments of httpx's request, expected status, a word the message must contain)
HOSTILE_POSTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("wrong type: trials a string", _with(ladder={"trials": "many", "rungs": [{"budget": 5}]}), 422, "ladder.trials"),
    ("wrong type: body a list", {"json": [1, 2, 3]}, 422, "invalid request"),
    ("wrong type: space a string", _with(space="learning_rate"), 422, "space"),
    ("huge integer", _raw(json.dumps(sweep_body()).replace('"seed": 3', '"seed": ' + "9" * 5000)), 422, "digits"),
    ("huge trials", _with(ladder={"trials": 10**12, "rungs": [{"budget": 5}]}), 422, "ladder.trials"),
    ("huge float", _raw(json.dumps(sweep_body()).replace("0.001", "1e400")), 422, "space.learning_rate"),
    ("NaN", _raw(json.dumps(sweep_body()).replace("0.001", "NaN")), 422, "NaN"),
    ("Infinity", _raw(json.dumps(sweep_body()).replace("0.001", "Infinity")), 422, "Infinity"),
    ("-Infinity budget", _raw(json.dumps(sweep_body()).replace('"budget": 10', '"budget": -Infinity')), 422, "Infinity"),
    ("deeply nested", _raw(_deep(100_000)), 422, "nested deeper"),
    ("nested just too deep", _raw(_deep(40)), 422, "nested deeper"),
    ("lone surrogate", _raw(json.dumps(sweep_body(model={"source": "x\ud800y"}))), 422, "surrogate"),
    ("lone surrogate as a key", _raw(json.dumps(sweep_body(space={"\udfff": {"type": "float", "low": 0, "high": 1}}))), 422, "surrogate"),
    ("NUL in text", _with(model={"source": "tiny\u0000bert"}), 422, "NUL"),
    ("invalid UTF-8", _raw(b'{"name": "\xff\xfe"}'), 422, "UTF-8"),
    ("right-to-left override in name", _with(name="demo\u202egnp"), 422, "name"),
    ("zero-width space in name", _with(name="de\u200bmo"), 422, "name"),
    ("emoji in name", _with(name="\U0001f680"), 422, "name"),
    ("overlong name", _with(name="n" * 10_000), 422, "name"),
    ("overlong model source", _with(model={"source": "m" * 10_000}), 422, "model.source"),
    ("overlong choice", _with(space={"lr_scheduler_type": {"type": "categorical", "choices": ["x" * 1000]}}), 422, "choices"),
    ("truncated JSON", _raw(b'{"name": "demo", "model": {'), 422, "JSON"),
    ("not JSON at all", _raw(b"\x00\x01\x02 binary"), 422, "JSON"),
    ("empty body", _raw(b""), 422, "invalid request"),
    ("10 MiB body", _raw(b'{"name": "' + b"a" * (10 * MiB) + b'"}'), 413, "1 MiB"),
    ("just over 1 MiB", _raw(b" " * (MiB + 1)), 413, "1 MiB"),
    ("unknown field", _with(gpu_hours=1_000_000), 422, "gpu_hours"),
    ("too many trials for this service", _with(ladder={"trials": 51, "rungs": [{"budget": 5}]}), 422, "at most 50"),
    ("too much concurrency for this service", _with(max_concurrency=9), 422, "max_concurrency"),
    ("too many rungs for this service", _with(ladder={"trials": 30, "reduction_factor": 1.1, "rungs": [{"budget": b} for b in range(1, 7)]}), 422, "ladder.rungs"),
    ("too many choices", _with(space={"per_device_train_batch_size": {"type": "categorical", "choices": list(range(1, 40))}}), 422, "choices"),
    ("too many search parameters", _with(space={f"p{i}": {"type": "float", "low": 0, "high": 1} for i in range(40)}), 422, "at most 16"),
    ("negative concurrency", _with(max_concurrency=-1), 422, "max_concurrency"),
    ("webhook to a metadata address", _with(webhooks=[{"url": "http://169.254.169.254/latest"}]), 422, "webhooks.0.url"),
    ("webhook with credentials", _with(webhooks=[{"url": "https://user:pw@example.com/h"}]), 422, "credentials"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_kwargs", "status", "word"),
    [c[1:] for c in HOSTILE_POSTS],
    ids=[c[0] for c in HOSTILE_POSTS],
)
async def test_hostile_sweep_posts_are_refused_and_start_nothing(
    hostile: tuple[httpx.AsyncClient, FastAPI, WorkflowEnvironment],
    request_kwargs: dict[str, Any],
    status: int,
    word: str,
) -> None:
    api, _, env = hostile
    before = datetime.now(UTC)
    answer = await api.post("/sweeps", **request_kwargs)
    assert answer.status_code == status, answer.text[:500]
    body = answer.json()
    assert word in body["detail"] or any(
        word in e["field"] or word in e["message"] for e in body["errors"]
    ), body
    assert "Traceback" not in answer.text and 'File "' not in answer.text
    assert len(answer.content) < 20_000  # the echo of hostile input is bounded
    assert await started_since(env, before) == []


@pytest.mark.parametrize(
    "path",
    [
        "/sweeps?limit=-1",
        "/sweeps?offset=-5",
        "/sweeps?limit=0",
        "/sweeps?limit=99999999999999999999999",
        "/sweeps?offset=1e3",
        "/sweeps?status=exploded",
        "/sweeps?name=%00",
        "/sweeps?name=" + "n" * 5000,
        "/sweeps/demo-1/leaderboard?offset=-1",
        "/sweeps/demo-1/leaderboard?rung=-3",
        "/sweeps/demo-1/trials?limit=-10",
        "/sweeps/demo-1/trials/not-a-trial",
        "/sweeps/%00",
        "/sweeps/" + "s" * 300,
        "/sweeps/..%2F..%2Fetc",
        "/sweeps/%F0%9F%9A%80",
        "/webhooks/ep_nothex",
    ],
)
async def test_hostile_reads_are_4xx_with_a_message(
    hostile: tuple[httpx.AsyncClient, FastAPI, WorkflowEnvironment], path: str
) -> None:
    api, _, _ = hostile
    answer = await api.get(path)
    assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:300])
    assert answer.json()["detail"]


async def test_checkpoint_body_with_a_hostile_trial_id_is_422(
    hostile: tuple[httpx.AsyncClient, FastAPI, WorkflowEnvironment],
) -> None:
    api, _, _ = hostile
    for body in (
        {"trial_id": "t0\u0000"},
        {"trial_id": ["t0001"]},
        {"trial_id": "x" * 10_000},
        {"other": 1},
    ):
        answer = await api.post("/sweeps/demo-1/checkpoint", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"]


async def test_rate_limit_answers_429_with_retry_after(
    dev_client: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, rate_limit_per_minute=6, rate_limit_burst=3)
    app = create_app(settings, temporal=dev_client.client)
    async with serve(app, principal="ci") as api:
        other = bearer(mint_token(app, "other-ci"))
        # Invalid bodies still spend the budget: the limit bounds calls, not successes.
        answers = [await api.post("/sweeps", json={"name": "x"}) for _ in range(4)]
        assert [a.status_code for a in answers] == [422, 422, 422, 429]
        limited = answers[-1]
        assert 1 <= int(limited.headers["Retry-After"]) <= 10
        assert "retry in" in limited.json()["detail"]
        # Reads have a budget of their own; another token has its own write budget.
        assert (await api.get("/sweeps")).status_code == 200
        assert (await api.post("/sweeps", json={"name": "x"}, headers=other)).status_code == 422


async def test_an_unexpected_error_is_a_500_with_an_id_and_no_internals(
    dev_client: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings_for(tmp_path), temporal=dev_client.client)
    secret = "whsec_" + uuid.uuid4().hex

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"database password=hunter2 secret={secret}")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            answer = await api.get("/boom")
    assert answer.status_code == 500
    body = answer.json()
    assert body["error_id"] and body["error_id"] in body["detail"]
    assert (
        "hunter2" not in answer.text
        and secret not in answer.text
        and "Traceback" not in answer.text
    )
    assert body["error_id"] in caplog.text  # the server side has it, under the same id


async def started_since(env: WorkflowEnvironment, since: datetime) -> list[str]:
    query = f"StartTime >= '{since.isoformat().replace('+00:00', 'Z')}'"
    return [w.id async for w in env.client.list_workflows(query)]


async def test_the_no_workflow_check_sees_a_started_sweep(
    hostile: tuple[httpx.AsyncClient, FastAPI, WorkflowEnvironment],
) -> None:
    """The control for the tests above: a valid request does show up in that query."""
    api, _, env = hostile
    before = datetime.now(UTC)
    answer = await api.post("/sweeps", json=sweep_body())
    assert answer.status_code == 201, answer.text
    # Visibility (the listing) is eventually consistent: give it the moment it may need.
    sweep_id, listed = answer.json()["sweep_id"], []
    for _ in range(50):
        listed = await started_since(env, before)
        if sweep_id in listed:
            break
        await asyncio.sleep(0.2)
    assert sweep_id in listed
