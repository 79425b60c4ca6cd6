"""The API built by its factory, over ASGI, wired to the real Temporal dev server whose
workers run the real workflows with fake training activities."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from app.api import create_app
from app.auth.tokens import new_token
from app.db import IndexUnavailable, make_engine, session_scope
from app.db.access import create_token
from app.settings import Settings
from tests.db.databases import fresh_postgres_database
from tests.workflows.fakes import FakeTraining, workers
from workers.activities.mirror import MirrorActivities

ApiFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path / "state", **overrides)  # type: ignore[arg-type]


def mint_token(app: FastAPI, principal: str, *, admin: bool = False) -> str:
    """A real token in the app's index database (what `sweeps token create` makes)."""
    with session_scope(app.state.engine) as session:
        _, token = create_token(session, principal, admin=admin)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def serve(
    app: FastAPI, *, principal: str | None = "tests"
) -> AsyncIterator[httpx.AsyncClient]:
    """The app over ASGI with its lifespan; the client sends an admin token of ``principal``
    (None: no token)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers: dict[str, str] = {}
        if principal is not None:
            try:
                headers = bearer(mint_token(app, principal, admin=True))
            except IndexUnavailable:
                # Tests of a dead index database: a well-formed token whose lookup then
                # fails (503), as any real client's would.
                headers = bearer(new_token())
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=headers
        ) as client:
            yield client


@pytest.fixture
def fake() -> FakeTraining:
    return FakeTraining(step_seconds=0.05, poll_control=True)


@pytest.fixture
async def api(
    dev_client: WorkflowEnvironment, fake: FakeTraining, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(tmp_path), temporal=dev_client.client)
    async with workers(dev_client, fake), serve(app) as client:
        yield client


@pytest.fixture
def temporal_client(dev_client: WorkflowEnvironment) -> Client:
    return dev_client.client


@pytest.fixture(params=["sqlite", "postgresql"])
def index_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.db'}"
        return
    with fresh_postgres_database("sweeps_api") as url:
        yield url


@pytest.fixture
async def indexed_api(
    dev_client: WorkflowEnvironment, index_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    settings = settings_for(tmp_path, database_url=index_url)
    app = create_app(settings, temporal=dev_client.client)
    engine = make_engine(settings.resolved_database_url)
    fake = FakeTraining(step_seconds=0.02)
    async with (
        serve(app) as api,
        workers(dev_client, fake, MirrorActivities(engine).mirror_results),
    ):
        yield api, index_url
    engine.dispose()


def wipe_index(url: str) -> None:
    """The index database lost everything (the tables stay, empty)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for table in ("checkpoints", "trial_rungs", "trials", "sweeps", "sweep_owners"):
                connection.exec_driver_sql(f"DELETE FROM {table}")
    finally:
        engine.dispose()
