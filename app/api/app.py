"""The FastAPI application factory: everything is built here, nothing at import time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib.metadata import version as package_version

from fastapi import Depends, FastAPI
from sqlalchemy import Engine
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from app.api.auth import authenticate
from app.api.body_guard import BodyGuard
from app.api.errors import install_error_handlers
from app.api.metrics import ApiMetrics, RequestMetrics
from app.api.openapi_docs import document_access_answers
from app.api.routes import control, events, health, metrics, results, sweeps, tokens, webhooks
from app.auth.rate_limit import RateLimiter
from app.auth.stream_slots import StreamSlots
from app.db import IndexUnavailable, make_engine, ping
from app.db.migrate import upgrade_to_head
from app.settings import Settings
from app.temporal.client import connect_lazily
from app.temporal.gateway import SweepGateway
from app.webhooks.address_policy import AddressPolicy
from app.webhooks.registry import WebhookRegistry
from app.webhooks.wiring import address_policy, secrets_box

DESCRIPTION = """
Durable hyperparameter sweeps for fine-tuning transformer classifiers.

Submit a `SweepRequest` to `POST /sweeps`; follow it with `GET /sweeps/{id}` (or live, as
Server-Sent Events, with `GET /sweeps/{id}/events`), rank its trials with
`GET /sweeps/{id}/leaderboard`, and steer it with the control endpoints.

Every call but `/healthz`, `/readyz`, `/metrics` (Prometheus) and these docs needs
`Authorization: Bearer <token>` (`sweeps token create --name <you>`). A sweep belongs to the
principal whose token made it; other principals get 404 for it, admin tokens see every sweep.
"""


def create_app(
    settings: Settings | None = None,
    *,
    temporal: Client | None = None,
    policy: AddressPolicy | None = None,
) -> FastAPI:
    """Build the API. ``temporal`` injects a client (tests); otherwise one connects lazily.
    ``policy`` replaces the webhook address policy (tests: a resolver with fixed answers)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = temporal or await connect_lazily(settings)
        engine = make_engine(settings.resolved_database_url)
        if settings.auto_migrate:
            # Zero-config embedded mode; a failure here leaves /readyz reporting the index.
            with contextlib.suppress(IndexUnavailable):
                await asyncio.to_thread(upgrade_to_head, settings.resolved_database_url)
        app.state.settings = settings
        app.state.engine = engine
        app.state.gateway = SweepGateway(client, settings)
        app.state.webhooks = WebhookRegistry(
            engine, secrets_box(settings), policy or address_policy(settings)
        )
        app.state.readiness = {"index": _index_probe(engine), "temporal": _temporal_probe(client)}
        app.state.metrics.watch_index(engine)
        try:
            yield
        finally:
            app.state.metrics.watch_index(None)
            engine.dispose()

    app = FastAPI(
        title="bert-sweeps",
        version=package_version("bert-sweeps"),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.state.read_rate_limiter = RateLimiter(
        settings.read_rate_limit_per_minute, settings.read_rate_limit_burst
    )
    app.state.event_streams = StreamSlots(settings.max_event_streams_per_principal)
    install_error_handlers(app)
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    # Outermost: it also counts what the body guard refuses.
    app.state.metrics = ApiMetrics()
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    app.include_router(health.router)
    app.include_router(metrics.router)
    # Everything else needs a token: declared here once, so no route can forget it.
    protected = (
        sweeps.router,
        events.router,
        results.router,
        control.router,
        webhooks.router,
        tokens.router,
    )
    for router in protected:
        document_access_answers(router, protected=True)
        app.include_router(router, dependencies=[Depends(authenticate)])
    return app


Probe = Callable[[], Awaitable[str]]
_PROBE_TIMEOUT = timedelta(seconds=2)


def _index_probe(engine: Engine) -> Probe:
    async def probe() -> str:
        try:
            await asyncio.to_thread(ping, engine)
        except IndexUnavailable as exc:
            return f"unreachable: {_first_line(exc)}"
        return "ok"

    return probe


def _temporal_probe(client: Client) -> Probe:
    async def probe() -> str:
        try:
            await client.workflow_service.get_system_info(
                GetSystemInfoRequest(), timeout=_PROBE_TIMEOUT
            )
        except Exception as exc:  # any failure means "not ready"; the reason is reported
            return f"unreachable: {_first_line(exc)}"
        return "ok"

    return probe


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[0][:120] if text else type(exc).__name__
