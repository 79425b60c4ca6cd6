"""Fixtures of the end-to-end tests.

``shared_stack`` is one embedded stack per test process (per xdist worker), which ``stack``
hands to the modules that leave its processes as they found them (test_client_cli,
test_control, test_webhooks_live): a stack costs seconds of a 2-core machine at each start.
Their tests tell their sweeps apart by id, never by counting what the stack holds.
tests/scheduling.py says which of them share a worker (and so one start of the stack). A
module that kills processes for good (test_faults) overrides ``stack`` with its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from app.cli.embedded import EmbeddedStack
from app.settings import DEVELOPMENT_WEBHOOK_HOSTS
from app.temporal.client import connect
from tests.e2e.drills import Driver, embedded_stack


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    # The children get the webhook allow-list of `sweeps demo` (a receiver on 127.0.0.1);
    # this process's environment is left as it was.
    child_env = {"SWEEPS_WEBHOOK_ALLOWED_HOSTS": DEVELOPMENT_WEBHOOK_HOSTS}
    with embedded_stack(tmp_path_factory.mktemp("shared-stack"), child_env=child_env) as running:
        yield running


@pytest.fixture
def stack(shared_stack: EmbeddedStack) -> Iterator[EmbeddedStack]:
    """The shared stack, with no sweep left running after the test: one that a failed test
    leaves behind would take the next test's training slots."""
    yield shared_stack
    asyncio.run(terminate_running_sweeps(shared_stack))


async def terminate_running_sweeps(stack: EmbeddedStack) -> None:
    client = await connect(stack.child_settings(), wait_seconds=10)
    async for execution in client.list_workflows("ExecutionStatus = 'Running'"):
        with contextlib.suppress(Exception):  # it may end on its own meanwhile
            await client.get_workflow_handle(execution.id).terminate("test cleanup")


@pytest.fixture
def drive(stack: EmbeddedStack) -> Iterator[Driver]:
    """An API client of the test's stack, closed after the test."""
    with Driver(stack) as driver:
        yield driver
