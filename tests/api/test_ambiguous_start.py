"""A start that Temporal answers with an error although it started the workflow (the answer
was lost: a deadline, a dropped connection) must not undo what the running sweep needs."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from app.api import create_app
from app.db import session_scope, webhooks
from app.db.access import owner_of
from app.domain import SweepRequest
from app.temporal.gateway import sweep_id_for
from tests.api.conftest import serve, settings_for
from tests.api.test_sweeps_api import sweep_body, wait_until_ended
from tests.workflows.fakes import FakeTraining, workers

HOOKS = [{"url": "http://127.0.0.1:9/hook"}]


def lost_answer() -> RPCError:
    return RPCError("Deadline exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")


class FlakyTemporal:
    """The real client, but start_workflow raises: after starting it (``starts``) or
    before; and describe can be made to fail too (Temporal still unreachable)."""

    def __init__(self, client: Client, *, starts: bool, describe_fails: bool = False) -> None:
        self._client = client
        self._starts = starts
        self._describe_fails = describe_fails

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        if self._starts:
            await self._client.start_workflow(*args, **kwargs)
        raise lost_answer()

    def get_workflow_handle(self, *args: Any, **kwargs: Any) -> WorkflowHandle[Any, Any]:
        handle = self._client.get_workflow_handle(*args, **kwargs)
        if self._describe_fails:

            async def describe(*_: Any, **__: Any) -> Any:
                raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")

            handle.describe = describe  # type: ignore[method-assign]
        return handle


async def submit(
    dev_client: WorkflowEnvironment, tmp_path: Path, flaky: FlakyTemporal
) -> tuple[httpx.Response, str | None, int]:
    """POST /sweeps through ``flaky``: the answer, the sweep's recorded owner, and how many
    webhook endpoints it has."""
    settings = settings_for(tmp_path, webhook_allowed_hosts="127.0.0.1")
    app = create_app(settings, temporal=flaky)  # type: ignore[arg-type]
    fake = FakeTraining(step_seconds=0.02)
    async with workers(dev_client, fake), serve(app) as api:
        body = sweep_body(trials=2, webhooks=HOOKS)
        key = uuid.uuid4().hex  # the dev server outlives the test: a sweep id of its own
        response = await api.post("/sweeps", json=body, headers={"Idempotency-Key": key})
        sweep_id = sweep_id_for(SweepRequest.model_validate(body), key, "tests")
        with session_scope(app.state.engine) as session:
            owner = owner_of(session, sweep_id)
            endpoints = len(webhooks.list_endpoints(session, sweep_id=sweep_id))
        if response.status_code == 201:
            assert (await api.get(f"/sweeps/{sweep_id}")).status_code == 200
            await wait_until_ended(api, sweep_id)
    return response, owner, endpoints


async def test_a_start_that_ran_despite_the_error_keeps_its_owner_and_webhooks(
    dev_client: WorkflowEnvironment, tmp_path: Path
) -> None:
    flaky = FlakyTemporal(dev_client.client, starts=True)
    response, owner, endpoints = await submit(dev_client, tmp_path, flaky)
    assert response.status_code == 201, response.text
    assert response.json()["created"] is True
    assert owner == "tests" and endpoints == 1
    assert response.json()["webhooks"][0]["secret"].startswith("whsec_")


async def test_a_start_that_never_ran_releases_everything(
    dev_client: WorkflowEnvironment, tmp_path: Path
) -> None:
    flaky = FlakyTemporal(dev_client.client, starts=False)
    response, owner, endpoints = await submit(dev_client, tmp_path, flaky)
    assert response.status_code == 503, response.text
    assert owner is None and endpoints == 0


@pytest.mark.parametrize("starts", [True, False])
async def test_a_start_that_cannot_be_confirmed_keeps_everything(
    dev_client: WorkflowEnvironment, tmp_path: Path, starts: bool
) -> None:
    flaky = FlakyTemporal(dev_client.client, starts=starts, describe_fails=True)
    response, owner, endpoints = await submit(dev_client, tmp_path, flaky)
    assert response.status_code == 503, response.text
    assert "cannot tell yet whether sweep" in response.json()["detail"]
    assert owner == "tests" and endpoints == 1  # it may be running: kept for a retry


async def test_an_unreachable_temporal_releases_everything(tmp_path: Path) -> None:
    """Connection refused: the request never left, so nothing is kept for a retry."""
    settings = settings_for(
        tmp_path, temporal_address="127.0.0.1:9", webhook_allowed_hosts="127.0.0.1"
    )
    app = create_app(settings)
    async with serve(app) as api:
        body = sweep_body(trials=2, webhooks=HOOKS)
        key = uuid.uuid4().hex
        response = await api.post("/sweeps", json=body, headers={"Idempotency-Key": key})
        sweep_id = sweep_id_for(SweepRequest.model_validate(body), key, "tests")
        with session_scope(app.state.engine) as session:
            owner = owner_of(session, sweep_id)
            endpoints = webhooks.list_endpoints(session, sweep_id=sweep_id)
    assert response.status_code == 503, response.text
    assert "cannot tell" not in response.json()["detail"]
    assert owner is None and endpoints == []
