"""A stack for webhook tests: the API by its factory, the real dev server with real workflows
and fake training, the real mirror and the real webhook activities on a SQLite index, and a
delivery schedule of fractions of a second."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from app.api import create_app
from app.db import make_engine
from app.db.migrate import upgrade_to_head
from app.settings import Settings
from app.webhooks.address_policy import AddressPolicy, Resolver, system_resolver
from app.webhooks.wiring import secrets_box
from tests.api.conftest import serve, settings_for
from tests.workflows.fakes import FakeTraining, workers
from workers.activities.mirror import MirrorActivities
from workers.activities.webhooks import WebhookActivities

FAST_RETRY: dict[str, Any] = {
    "webhook_retry_initial_seconds": 0.3,
    "webhook_retry_backoff": 1.5,
    "webhook_retry_maximum_seconds": 0.6,
    "webhook_retry_give_up_seconds": 4.0,
}


@dataclass
class Stack:
    api: httpx.AsyncClient
    settings: Settings
    engine: Engine


class FixedDns:
    """A resolver with answers the test sets (and changes: DNS rebinding)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def __call__(self, host: str, port: int) -> list[str]:
        if host in self.answers:
            return self.answers[host]
        return await system_resolver(host, port)


@pytest.fixture
def webhook_stack(dev_client: WorkflowEnvironment, tmp_path: Path) -> Callable[..., Any]:
    """``async with webhook_stack(allow=..., api_dns=..., worker_dns=...) as stack``."""

    @asynccontextmanager
    async def start(
        allow: str = "127.0.0.1",
        api_resolver: Resolver | None = None,
        worker_resolver: Resolver | None = None,
        step_seconds: float = 0.02,
        **overrides: Any,
    ) -> AsyncIterator[Stack]:
        settings = settings_for(tmp_path, webhook_allowed_hosts=allow, **(FAST_RETRY | overrides))
        upgrade_to_head(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        resolve_api = api_resolver or system_resolver
        resolve_worker = worker_resolver or system_resolver
        app = create_app(
            settings,
            temporal=dev_client.client,
            policy=AddressPolicy(settings.webhook_allow_list, resolver=resolve_api),
        )
        hooks = WebhookActivities(
            engine,
            secrets_box(settings),
            AddressPolicy(settings.webhook_allow_list, resolver=resolve_worker),
            request_timeout=settings.webhook_timeout_seconds,
        )
        fake = FakeTraining(step_seconds=step_seconds, poll_control=True)
        try:
            async with (
                serve(app) as api,
                workers(dev_client, fake, MirrorActivities(engine).mirror_results, hooks.all()),
            ):
                yield Stack(api, settings, engine)
        finally:
            engine.dispose()

    return start
