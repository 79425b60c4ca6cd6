"""Schemathesis against the app's own OpenAPI schema, in process (ASGI): generated requests
for every operation; no answer may be a 5xx, and every answer must conform to the schema
(status code, content type, body, headers).

The app runs in a loop of its own on a background thread (the lifespan stays up across
examples), with the real dev server behind it and a real SQLite index; webhook hosts
resolve to a fixed public address, so no generated hostname reaches the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from app.api import create_app
from app.settings import Settings
from app.webhooks.address_policy import AddressPolicy
from tests.api.conftest import bearer, mint_token, settings_for

T = TypeVar("T")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES_PER_OPERATION = 30


async def public_address(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]  # documentation range would be refused; any public address


class AppThread:
    """The app's lifespan and an ASGI client in a loop on a thread; sync calls into it."""

    def __init__(self, settings: Settings, temporal_target: str) -> None:
        self.settings = settings
        self.target = temporal_target
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.client: httpx.AsyncClient
        self.token = ""
        self._stack = contextlib.AsyncExitStack()
        self.temporal: Client

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        self.temporal = await Client.connect(self.target, data_converter=pydantic_data_converter)
        policy = AddressPolicy([], resolver=public_address)
        app = create_app(self.settings, temporal=self.temporal, policy=policy)
        await self._stack.enter_async_context(app.router.lifespan_context(app))
        self.client = await self._stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                base_url="http://api",
            )
        )
        self.token = mint_token(app, "fuzzer", admin=True)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def stop(self) -> None:
        async def stop() -> None:
            async for execution in self.temporal.list_workflows("ExecutionStatus = 'Running'"):
                with contextlib.suppress(Exception):
                    await self.temporal.get_workflow_handle(execution.id).terminate("fuzz done")
            await self._stack.aclose()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def app_thread(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppThread]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    settings = settings_for(tmp, rate_limit_per_minute=0, read_rate_limit_per_minute=0)
    runner = AppThread(settings, dev_env.client.service_client.config.target_host)
    runner.start()
    yield runner
    runner.stop()


def _schema() -> Any:
    app = create_app(Settings(data_dir=Path("/nonexistent-never-used")))
    return schemathesis.openapi.from_dict(app.openapi())


schema = _schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, app_thread: AppThread) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://api")
    headers = dict(kwargs.get("headers") or {})
    headers.update(bearer(app_thread.token))
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": headers,
        "params": kwargs.get("params"),
    }
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        request["content"] = kwargs["data"]
    response = app_thread.run(app_thread.client.request(**request))
    case.validate_response(response, checks=CHECKS)
