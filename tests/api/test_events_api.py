"""GET /sweeps/{id}/events: the journal as Server-Sent Events.

Most tests answer the journal from a scripted gateway (no Temporal; fast, exact); the last
ones follow real sweeps on the dev server through the real gateway."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from temporalio.client import Client

from app.api import create_app
from app.api.errors import NotFound, ServiceUnavailable
from app.api.routes import events as events_route
from app.db import session_scope
from app.db.access import claim_sweep
from app.domain.sweep_events import SweepEvent, SweepEventPage
from app.domain.workflow_io import SweepState
from app.temporal import contract
from tests.api.conftest import bearer, mint_token, serve, settings_for
from tests.api.test_sweeps_api import sweep_body
from tests.workflows.fakes import FakeTraining
from workers.workflows import journal

SWEEP = "followed-sweep"


def event(id: int, type: str = "trial.started", **fields: Any) -> SweepEvent:
    return SweepEvent.model_validate(
        {"id": id, "type": type, "at": datetime(2025, 1, 1, tzinfo=UTC), "sweep_id": SWEEP} | fields
    )


def a_sweep(length: int = 5) -> list[SweepEvent]:
    """Trial events, then the end."""
    return [event(i, trial_id=f"t{i:04d}", rung=0) for i in range(1, length)] + [
        event(length, "sweep.ended", status="completed")
    ]


@dataclass
class ScriptedJournal:
    """Answers ``events`` like SweepGateway: the first call sees ``shown`` events, each later
    one ``growth`` more; events before ``first_id`` were dropped."""

    journal: list[SweepEvent]
    shown: int | None = None
    growth: int = 0
    first_id: int = 1
    unreachable_at_call: int | None = None
    calls: list[int] = field(default_factory=list)

    async def events(self, sweep_id: str, after: int) -> SweepEventPage:
        self.calls.append(after)
        if sweep_id != SWEEP:
            raise NotFound(f"no sweep {sweep_id!r}")
        if self.unreachable_at_call is not None and len(self.calls) >= self.unreachable_at_call:
            raise ServiceUnavailable("Temporal is unreachable: scripted")
        count = len(self.journal) if self.shown is None else self.shown
        visible = self.journal[: count + self.growth * (len(self.calls) - 1)]
        state = SweepState(
            started_at=datetime(2025, 1, 1, tzinfo=UTC),
            events=[e for e in visible if e.id >= self.first_id],
            next_event_id=visible[-1].id + 1 if visible else 1,
        )
        return journal.page(state, after, contract.EVENTS_PAGE_LIMIT)


def parse(body: str) -> list[dict[str, Any]]:
    """SSE messages (comments dropped), ``data`` decoded."""
    messages = []
    for block in body.split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = json.loads(value) if name == "data" else value
        if fields:
            messages.append(fields)
    return messages


def ids(messages: list[dict[str, Any]]) -> list[int]:
    return [int(m["id"]) for m in messages if "id" in m]


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_route, "POLL_SECONDS", 0.01)


@contextlib.asynccontextmanager
async def scripted_api(
    tmp_path: Path, gateway: ScriptedJournal, principal: str | None = "tests"
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    app = create_app(settings_for(tmp_path, temporal_address="127.0.0.1:9"))
    async with serve(app, principal=principal) as client:
        app.state.gateway = gateway
        yield client, app


async def test_events_arrive_in_sse_wire_format(tmp_path: Path) -> None:
    journal_ = [
        event(1, trial_id="t0000", rung=0, budget=10.0, params={"learning_rate": 1e-4}, step=0),
        event(2, "trial.finished", trial_id="t0000", rung=0, status="rung_done",
              objective_value=float("nan")),
        event(3, "sweep.ended", status="completed", best_trial_id=None),
    ]  # fmt: skip
    async with scripted_api(tmp_path, ScriptedJournal(journal_)) as (api, _):
        response = await api.get(f"/sweeps/{SWEEP}/events")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.text.startswith("event: trial.started\ndata: {")
    messages = parse(response.text)
    assert [(m["id"], m["event"]) for m in messages] == [
        ("1", "trial.started"),
        ("2", "trial.finished"),
        ("3", "sweep.ended"),
    ]
    assert messages[0]["retry"] == "2000" and all("retry" not in m for m in messages[1:])
    assert [SweepEvent.model_validate(m["data"]) for m in messages[:1]] == journal_[:1]
    assert messages[1]["data"]["objective_value"] is None  # NaN is not JSON: null
    assert messages[2]["data"]["status"] == "completed"


async def test_last_event_id_or_after_resumes(tmp_path: Path) -> None:
    async with scripted_api(tmp_path, ScriptedJournal(a_sweep())) as (api, _):
        by_header = await api.get(f"/sweeps/{SWEEP}/events", headers={"Last-Event-ID": "2"})
        by_query = await api.get(f"/sweeps/{SWEEP}/events?after=3")
        both = await api.get(f"/sweeps/{SWEEP}/events?after=4", headers={"Last-Event-ID": "1"})
        past_the_end = await api.get(f"/sweeps/{SWEEP}/events?after=5")
    assert ids(parse(by_header.text)) == [3, 4, 5]
    assert ids(parse(by_query.text)) == [4, 5]
    assert ids(parse(both.text)) == [2, 3, 4, 5]  # the header wins
    assert parse(past_the_end.text) == [{"retry": "2000"}]  # nothing more: the stream ends


@pytest.mark.parametrize(
    ("headers", "query", "field"),
    [
        ({"Last-Event-ID": "abc"}, "", "header.Last-Event-ID"),
        ({"Last-Event-ID": "-1"}, "", "header.Last-Event-ID"),
        ({}, "?after=1.5", "query.after"),
        ({}, "?after=-3", "query.after"),
    ],
)
async def test_an_invalid_resume_position_is_422(
    tmp_path: Path, headers: dict[str, str], query: str, field: str
) -> None:
    gateway = ScriptedJournal(a_sweep())
    async with scripted_api(tmp_path, gateway) as (api, _):
        response = await api.get(f"/sweeps/{SWEEP}/events{query}", headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    assert [e["field"].lower() for e in response.json()["errors"]] == [field.lower()]
    assert gateway.calls == []


async def test_unknown_sweep_and_unreachable_temporal_are_plain_answers(tmp_path: Path) -> None:
    gateway = ScriptedJournal(a_sweep(), unreachable_at_call=1)
    async with scripted_api(tmp_path, gateway) as (api, _):
        unknown = await api.get("/sweeps/no-such-sweep/events")
        unreachable = await api.get(f"/sweeps/{SWEEP}/events")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/json"
    assert unknown.json()["detail"] == "no sweep 'no-such-sweep'"
    assert unreachable.status_code == 503 and unreachable.headers["Retry-After"]


async def test_another_principals_sweep_is_404(tmp_path: Path) -> None:
    gateway = ScriptedJournal(a_sweep())
    async with scripted_api(tmp_path, gateway, principal=None) as (api, app):
        with session_scope(app.state.engine) as session:
            claim_sweep(session, SWEEP, "alice")
        alice, bob = mint_token(app, "alice"), mint_token(app, "bob")
        theirs = await api.get(f"/sweeps/{SWEEP}/events", headers=bearer(bob))
        assert gateway.calls == []  # the journal is never read for them
        mine = await api.get(f"/sweeps/{SWEEP}/events", headers=bearer(alice))
        anonymous = await api.get(f"/sweeps/{SWEEP}/events")
    assert theirs.status_code == 404 and theirs.json()["detail"] == f"no sweep {SWEEP!r}"
    assert mine.status_code == 200 and ids(parse(mine.text)) == [1, 2, 3, 4, 5]
    assert anonymous.status_code == 401


async def test_a_live_stream_polls_until_the_sweep_ends(tmp_path: Path, fast_polls: None) -> None:
    gateway = ScriptedJournal(a_sweep(6), shown=0, growth=2)
    async with scripted_api(tmp_path, gateway) as (api, _):
        response = await api.get(f"/sweeps/{SWEEP}/events")
    messages = parse(response.text)
    assert messages[0] == {"retry": "2000"}  # nothing yet: the retry goes first, alone
    assert ids(messages) == [1, 2, 3, 4, 5, 6]
    assert messages[-1]["event"] == "sweep.ended"
    assert gateway.calls == [0, 0, 2, 4]  # each poll asks for what came after the last sent


async def test_dropped_events_are_told_as_skipped(tmp_path: Path) -> None:
    gateway = ScriptedJournal(a_sweep(8), first_id=5)
    async with scripted_api(tmp_path, gateway) as (api, _):
        from_start = parse((await api.get(f"/sweeps/{SWEEP}/events")).text)
        resumed = parse(
            (await api.get(f"/sweeps/{SWEEP}/events", headers={"Last-Event-ID": "2"})).text
        )
        kept = parse((await api.get(f"/sweeps/{SWEEP}/events?after=4")).text)
    assert ids(from_start) == [4, 5, 6, 7, 8]
    skipped = from_start[0]
    assert skipped["event"] == "events.skipped" and skipped["data"]["skipped"] == 4
    assert skipped["retry"] == "2000"
    assert resumed[0]["data"]["skipped"] == 2 and ids(resumed) == [4, 5, 6, 7, 8]
    assert ids(kept) == [5, 6, 7, 8]


async def test_unreachable_temporal_mid_stream_ends_the_stream(
    tmp_path: Path, fast_polls: None
) -> None:
    gateway = ScriptedJournal(a_sweep(), shown=2, growth=1, unreachable_at_call=3)
    async with scripted_api(tmp_path, gateway) as (api, _):
        response = await api.get(f"/sweeps/{SWEEP}/events")
    assert response.status_code == 200
    assert ids(parse(response.text)) == [1, 2, 3]  # ends cleanly: the client reconnects
    assert len(gateway.calls) == 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_client_that_leaves_stops_the_polling(tmp_path: Path, fast_polls: None) -> None:
    """A real server (ASGITransport would wait for the whole endless body)."""
    gateway = ScriptedJournal(a_sweep(), shown=1)  # never ends
    app = create_app(settings_for(tmp_path, temporal_address="127.0.0.1:9", auth_enabled=False))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        app.state.gateway = gateway
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
            client.stream("GET", f"/sweeps/{SWEEP}/events") as response,
        ):
            lines = response.aiter_lines()
            assert await anext(lines) == "event: trial.started"
            while len(gateway.calls) < 3:  # it polls on
                await asyncio.sleep(0.01)
        polls = len(gateway.calls)
        await asyncio.sleep(0.3)
        assert len(gateway.calls) <= polls + 1  # gone: at most a poll already under way
    finally:
        server.should_exit = True
        await serving


# ---- against the dev server: the real gateway and workflows -----------------------------


async def test_following_a_real_sweep_to_its_end(api: httpx.AsyncClient) -> None:
    sweep_id = (await api.post("/sweeps", json=sweep_body(trials=2))).json()["sweep_id"]
    messages = parse((await api.get(f"/sweeps/{sweep_id}/events")).text)
    said = [m["event"] for m in messages if "event" in m]
    assert ids(messages) == list(range(1, len(said) + 1))
    assert sorted(said[:-2]) == ["trial.finished"] * 2 + ["trial.started"] * 2
    assert said[-2:] == ["rung.completed", "sweep.ended"]
    assert messages[-1]["data"]["status"] == "completed"
    again = parse((await api.get(f"/sweeps/{sweep_id}/events?after={len(said) - 1}")).text)
    assert ids(again) == [len(said)]


async def test_a_terminated_sweep_still_ends_its_stream(
    api: httpx.AsyncClient, fake: FakeTraining, temporal_client: Client
) -> None:
    fake.step_seconds = 30.0
    sweep_id = (await api.post("/sweeps", json=sweep_body(trials=1))).json()["sweep_id"]
    for _ in range(200):  # until the trial runs
        if (await api.get(f"/sweeps/{sweep_id}")).json()["trials"]["running"]:
            break
        await asyncio.sleep(0.05)
    await temporal_client.get_workflow_handle(sweep_id).terminate("operator")
    messages = parse((await api.get(f"/sweeps/{sweep_id}/events")).text)
    assert [m["event"] for m in messages] == ["trial.started", "sweep.ended"]
    end = messages[-1]
    assert int(end["id"]) == 2 and end["data"]["status"] == "cancelled"
    assert end["data"]["error"] == "the workflow ended terminated"
    resumed = parse(
        (await api.get(f"/sweeps/{sweep_id}/events", headers={"Last-Event-ID": "2"})).text
    )
    assert resumed == [{"retry": "2000"}]  # already told: nothing more, the stream ends
