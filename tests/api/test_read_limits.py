"""Reads cost Temporal queries, so they are bounded per principal: a rate of reads, a number
of open event streams; and an open stream ends once its token is revoked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from app.api import create_app
from app.api.routes import events as events_route
from app.db import session_scope
from app.db.access import revoke_token
from app.domain.sweep_events import SweepEventPage
from tests.api.conftest import bearer, mint_token, serve, settings_for
from tests.api.test_events_api import SWEEP, ScriptedJournal, a_sweep, free_port, ids, parse


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_route, "POLL_SECONDS", 0.01)


async def test_reads_are_rate_limited_per_principal(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, temporal_address="127.0.0.1:9", read_rate_limit_per_minute=6,
        read_rate_limit_burst=3,
    )  # fmt: skip
    app = create_app(settings)
    async with serve(app, principal="ci") as api:
        same_principal = bearer(mint_token(app, "ci", admin=True))
        other = bearer(mint_token(app, "other-ci", admin=True))
        answers = [await api.get("/webhooks") for _ in range(4)]
        second_token = await api.get("/webhooks", headers=same_principal)
        elsewhere = await api.get("/webhooks", headers=other)
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    assert "too many reads" in limited.json()["detail"]
    # A principal's tokens share its budget; another principal has its own.
    assert second_token.status_code == 429
    assert elsewhere.status_code == 200


@dataclass
class RevokingJournal(ScriptedJournal):
    """A journal that never ends; at call ``revoke_at`` the stream's token is revoked."""

    app: FastAPI | None = None
    token: str = ""
    revoke_at: int = 3

    async def events(self, sweep_id: str, after: int) -> SweepEventPage:
        if len(self.calls) + 1 == self.revoke_at and self.app is not None:
            with session_scope(self.app.state.engine) as session:
                assert revoke_token(session, self.token)
        return await super().events(sweep_id, after)


async def test_an_open_stream_ends_when_its_token_is_revoked(
    tmp_path: Path, fast_polls: None
) -> None:
    settings = settings_for(
        tmp_path, temporal_address="127.0.0.1:9", event_stream_token_check_seconds=0.05
    )
    app = create_app(settings)
    async with serve(app, principal=None) as api:
        token = mint_token(app, "alice", admin=True)
        journal = RevokingJournal(a_sweep(), shown=1, app=app, token=token)
        app.state.gateway = journal
        # Never-ending before: the journal has no end, only revocation stops it.
        response = await asyncio.wait_for(
            api.get(f"/sweeps/{SWEEP}/events", headers=bearer(token)), timeout=10
        )
        again = await api.get(f"/sweeps/{SWEEP}/events", headers=bearer(token))
    assert response.status_code == 200
    assert ids(parse(response.text)) == [1]
    assert again.status_code == 401


@contextlib.asynccontextmanager
async def real_server(app: FastAPI) -> AsyncIterator[str]:
    """A real server (ASGITransport would wait for the whole endless body)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def test_open_streams_are_bounded_per_principal(tmp_path: Path, fast_polls: None) -> None:
    settings = settings_for(
        tmp_path, temporal_address="127.0.0.1:9", max_event_streams_per_principal=2
    )
    app = create_app(settings)
    async with real_server(app) as url, httpx.AsyncClient(base_url=url) as client:
        app.state.gateway = ScriptedJournal(a_sweep(), shown=1)  # never ends
        alice = bearer(mint_token(app, "alice", admin=True))
        bob = bearer(mint_token(app, "bob", admin=True))
        path = f"/sweeps/{SWEEP}/events"
        lines: list[AsyncIterator[str]] = []
        async with contextlib.AsyncExitStack() as streams:
            for _ in range(2):
                response = await streams.enter_async_context(
                    client.stream("GET", path, headers=alice)
                )
                assert response.status_code == 200
                # Kept: an iterator dropped would close its stream when collected.
                lines.append(response.aiter_lines())
                assert await anext(lines[-1]) == "event: trial.started"
            refused = await client.get(path, headers=alice)
            async with client.stream("GET", path, headers=bob) as theirs:
                assert theirs.status_code == 200  # a budget of their own
        # Closed streams give their places back.
        deadline = asyncio.get_running_loop().time() + 5
        while app.state.event_streams.held("alice"):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        async with client.stream("GET", path, headers=alice) as again:
            assert again.status_code == 200
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert "event streams open" in refused.json()["detail"]
