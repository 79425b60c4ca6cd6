"""Webhook events from sweep workflows (time-skipping server, fake delivery activities):
one event per occurrence, sent for every way a sweep ends, never holding the sweep open."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from app.domain import SweepResult, SweepStatus, TrialStatus
from app.domain.webhooks import (
    DeliveryReport,
    RungEventData,
    SweepEventData,
    TrialEventData,
    WebhookRetrySchedule,
)
from app.domain.workflow_io import SweepWorkflowInput
from app.temporal import contract
from tests.workflows.fakes import FakeTraining, FakeWebhooks, workers
from tests.workflows.test_sweep_workflows import make_request

HISTORIES = Path(__file__).parent.parent / "histories"


async def dispatch_reports(env: WorkflowEnvironment, dispatch_id: str) -> list[DeliveryReport]:
    handle = env.client.get_workflow_handle(dispatch_id, result_type=list[DeliveryReport])
    return await handle.result()


async def test_completed_sweep_sends_one_sweep_completed(env: WorkflowEnvironment) -> None:
    hooks = FakeWebhooks()
    request = make_request(name="wf-hooks")
    sweep_id = f"wf-hooks-{uuid.uuid4().hex[:6]}"
    async with workers(env, FakeTraining(), webhooks=hooks.activities()):
        result = await env.client.execute_workflow(
            contract.LADDER_SWEEP_WORKFLOW,
            SweepWorkflowInput(request=request, artifact_root="/a", snapshot_root="/s"),
            id=sweep_id,
            task_queue=contract.ORCHESTRATION_TASK_QUEUE,
            result_type=SweepResult,
        )
        reports = await dispatch_reports(env, f"{sweep_id}.webhooks.sweep")

    assert result.status == SweepStatus.COMPLETED
    assert hooks.types(sweep_id) == ["sweep.completed"]  # nobody asked for progress events
    assert [r.state for r in reports] == ["delivered"]
    (event,) = hooks.of(sweep_id)
    data = event.data
    assert isinstance(data, SweepEventData)
    assert data.sweep_id == sweep_id and data.name == "wf-hooks"
    assert data.status == SweepStatus.COMPLETED
    assert data.objective == {"metric": "accuracy", "direction": "maximize"}
    assert result.best is not None and data.best is not None
    assert data.best.trial_id == result.best.trial_id
    assert data.best.params == result.best.params and data.best.checkpoint is not None
    assert data.leaderboard[0].trial_id == result.best.trial_id
    assert data.counts.trials == 7 and data.counts.completed == 1 and data.counts.pruned == 6
    assert data.counts.rungs_done == data.counts.rungs_total == 3
    assert data.timings.duration_seconds is not None and data.timings.duration_seconds >= 0
    assert data.links.leaderboard == f"/sweeps/{sweep_id}/leaderboard"
    if os.environ.get("RECORD_HISTORIES"):
        for old in HISTORIES.glob("wf-hooks-*.json"):
            old.unlink()
        for workflow_id in (sweep_id, f"{sweep_id}.webhooks.sweep"):
            history = await env.client.get_workflow_handle(workflow_id).fetch_history()
            (HISTORIES / f"{workflow_id}.json").write_text(history.to_json())


async def test_progress_events_only_when_someone_subscribes(env: WorkflowEnvironment) -> None:
    hooks = FakeWebhooks(progress_events=["trial.completed", "rung.completed"])
    request = make_request(name="wf-progress")
    async with workers(env, FakeTraining(), webhooks=hooks.activities()):
        sweep_id = f"wf-progress-{uuid.uuid4().hex[:6]}"
        result = await env.client.execute_workflow(
            contract.LADDER_SWEEP_WORKFLOW,
            SweepWorkflowInput(request=request, artifact_root="/a", snapshot_root="/s"),
            id=sweep_id,
            task_queue=contract.ORCHESTRATION_TASK_QUEUE,
            result_type=SweepResult,
        )
        await dispatch_reports(env, f"{sweep_id}.webhooks.sweep")

    types = hooks.types(sweep_id)
    assert types.count("rung.completed") == 3
    # Every trial ends once (6 pruned, the winner completed) and says so once.
    assert types.count("trial.completed") == len(result.trials) == 7
    assert types.count("sweep.completed") == 1 and types[-1] == "sweep.completed"
    trial_events = [e.data for e in hooks.of(sweep_id) if isinstance(e.data, TrialEventData)]
    assert {d.trial.trial_id for d in trial_events} == {t.trial_id for t in result.trials}
    assert all(d.trial.status in (TrialStatus.PRUNED, TrialStatus.COMPLETED) for d in trial_events)
    rung_events = [e.data for e in hooks.of(sweep_id) if isinstance(e.data, RungEventData)]
    assert [d.rung for d in rung_events] == [0, 1, 2]
    assert [d.survivors for d in rung_events] == [r.survivors for r in result.rungs]


async def test_failed_sweep_sends_sweep_failed(env: WorkflowEnvironment) -> None:
    hooks = FakeWebhooks()
    fake = FakeTraining(fail_model="./missing")
    request = make_request(
        name="wf-failed",
        model={"source": "./missing"},
        ladder={"unit": "steps", "trials": 2, "rungs": [{"budget": 10}]},
    )
    sweep_id = f"wf-failed-{uuid.uuid4().hex[:6]}"
    async with workers(env, fake, webhooks=hooks.activities()):
        with pytest.raises(WorkflowFailureError):
            await env.client.execute_workflow(
                contract.LADDER_SWEEP_WORKFLOW,
                SweepWorkflowInput(request=request, artifact_root="/a", snapshot_root="/s"),
                id=sweep_id,
                task_queue=contract.ORCHESTRATION_TASK_QUEUE,
            )
        await dispatch_reports(env, f"{sweep_id}.webhooks.sweep")
    (event,) = hooks.of(sweep_id)
    assert event.type == "sweep.failed"
    assert isinstance(event.data, SweepEventData)
    assert event.data.status == SweepStatus.FAILED
    assert event.data.error is not None and "./missing does not exist" in event.data.error
    assert event.data.counts.failed == 2 and event.data.best is None


async def progress(handle: WorkflowHandle[object, object]) -> SweepResult:
    return await handle.query(contract.PROGRESS_QUERY, result_type=SweepResult)


async def test_cancelled_sweep_sends_sweep_cancelled(env: WorkflowEnvironment) -> None:
    hooks = FakeWebhooks(progress_events=["trial.completed"])
    fake = FakeTraining(step_seconds=30, poll_control=True)
    request = make_request(
        name="wf-cancel", ladder={"unit": "steps", "trials": 3, "rungs": [{"budget": 10}]}
    )
    sweep_id = f"wf-cancel-{uuid.uuid4().hex[:6]}"
    async with workers(env, fake, webhooks=hooks.activities()):
        handle = await env.client.start_workflow(
            contract.LADDER_SWEEP_WORKFLOW,
            SweepWorkflowInput(request=request, artifact_root="/a", snapshot_root="/s"),
            id=sweep_id,
            task_queue=contract.ORCHESTRATION_TASK_QUEUE,
        )
        # Every trial proposed (t0002's wave is proposed while the first one trains).
        while not fake.calls or len((await progress(handle)).trials) < 3:
            await asyncio.sleep(0.05)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        await dispatch_reports(env, f"{sweep_id}.webhooks.sweep")
    # The sweep's own event, not one per trial cancelled with it.
    assert hooks.types(sweep_id) == ["sweep.cancelled"]
    data = hooks.of(sweep_id)[0].data
    assert isinstance(data, SweepEventData)
    assert data.status == SweepStatus.CANCELLED and data.counts.cancelled == 3


async def test_sweep_result_never_waits_for_delivery(dev_client: WorkflowEnvironment) -> None:
    """A receiver that keeps failing is retried by the detached dispatch while the sweep has
    already returned its result; when the schedule runs out, the delivery is marked failed
    with the last attempt's error. (The real dev server, with a schedule of seconds.)"""
    env = dev_client
    hooks = FakeWebhooks(fail_deliveries=True)
    retry = WebhookRetrySchedule(initial_seconds=0.5, backoff=2, maximum_seconds=1,
                                 give_up_seconds=4)  # fmt: skip
    request = make_request(
        name="wf-slow", ladder={"unit": "steps", "trials": 2, "rungs": [{"budget": 10}]}
    )
    sweep_id = f"wf-slow-{uuid.uuid4().hex[:6]}"
    async with workers(env, FakeTraining(step_seconds=0.01), webhooks=hooks.activities()):
        result = await env.client.execute_workflow(
            contract.LADDER_SWEEP_WORKFLOW,
            SweepWorkflowInput(
                request=request, artifact_root="/a", snapshot_root="/s", webhook_retry=retry
            ),
            id=sweep_id,
            task_queue=contract.ORCHESTRATION_TASK_QUEUE,
            result_type=SweepResult,
        )
        assert result.status == SweepStatus.COMPLETED
        dispatch = env.client.get_workflow_handle(f"{sweep_id}.webhooks.sweep")
        assert (await dispatch.describe()).status == WorkflowExecutionStatus.RUNNING
        assert len(hooks.attempts) < retry.attempts
        reports = await dispatch_reports(env, f"{sweep_id}.webhooks.sweep")
    assert [r.state for r in reports] == ["failed"]
    # Retries after 0.5, 1, 1, 1 s: five attempts start within the 4 s give-up time.
    assert len(hooks.attempts) == retry.attempts == 5
    (finished,) = hooks.finished
    assert "gave up after retrying" in finished.error and "HTTP 503" in finished.error
