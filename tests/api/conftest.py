"""The API built by its factory, over ASGI, wired to the real Temporal dev server whose
workers run the real workflows with fake training activities."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from app.api import create_app
from app.settings import Settings
from tests.workflows.fakes import FakeTraining, workers

ApiFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path / "state", **overrides)  # type: ignore[arg-type]


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
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
