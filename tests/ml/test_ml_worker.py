"""The fine_tune activity on a real Temporal worker: payloads, heartbeats, signal and query.

ActivityEnvironment tests the adapter in isolation; this one checks what only a real worker
shows: the methods register as activities, inputs and outcomes survive the pydantic data
converter, and the activity thread reaches workflows through the worker's client and loop.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from ml_helpers import JobFactory
from pydantic import BaseModel
from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from app.domain import FineTuneInput, TrialControl
from app.domain.workflow_io import CheckpointSaved, TrialRunOutcome
from app.temporal import activity_refs, contract
from workers.activities.training_queue import TrainingActivities

pytestmark = pytest.mark.slow


class ProbeResult(BaseModel):
    outcome: TrialRunOutcome
    saved: list[CheckpointSaved]
    control_queries: int


@workflow.defn(name="MlTrainingProbe")
class ProbeWorkflow:
    """Plays the sweep the activity talks to: checkpoint signals and control queries."""

    def __init__(self) -> None:
        self.saved: list[CheckpointSaved] = []
        self.queries = 0

    @workflow.signal(name=contract.CHECKPOINT_SAVED_SIGNAL)
    def checkpoint_saved(self, report: CheckpointSaved) -> None:
        self.saved.append(report)

    @workflow.query(name=contract.TRIAL_CONTROL_QUERY)
    def trial_control(self, trial_id: str) -> TrialControl:
        self.queries += 1
        # A checkpoint-now request is pending from the start of the second query on.
        return TrialControl(checkpoint_generation=0 if self.queries == 1 else 1)

    @workflow.run
    async def run(self, inp: FineTuneInput) -> ProbeResult:
        outcome = await workflow.execute_activity(
            activity_refs.train_and_evaluate,
            inp,
            task_queue=contract.TRAINING_TASK_QUEUE,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=45),
        )
        return ProbeResult(outcome=outcome, saved=self.saved, control_queries=self.queries)


async def test_train_and_evaluate_on_a_real_worker(tmp_path: Path, make_job: JobFactory) -> None:
    server = Path(sys.executable).parent / "temporal-test-server"
    async with (
        await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(server), data_converter=pydantic_data_converter
        ) as env,
        Worker(
            env.client,
            task_queue=contract.TRAINING_TASK_QUEUE,
            workflows=[ProbeWorkflow],
            activities=TrainingActivities(asyncio.get_running_loop(), env.client).all(),
            activity_executor=ThreadPoolExecutor(max_workers=2),
            workflow_runner=UnsandboxedWorkflowRunner(),
        ),
    ):
        workflow_id = f"probe-{uuid.uuid4()}"
        job = make_job(tmp_path, budget=12).model_copy(update={"sweep_workflow_id": workflow_id})
        inp = FineTuneInput(job=job, control_poll_seconds=0.01)
        result = await env.client.execute_workflow(
            ProbeWorkflow.run, inp, id=workflow_id, task_queue=contract.TRAINING_TASK_QUEUE
        )
    assert result.outcome.global_step == 12
    assert result.outcome.checkpoint.reason == "rung_end"
    assert result.outcome.metrics is not None  # evaluated in the same attempt
    reasons = [(s.checkpoint.step, s.checkpoint.reason) for s in result.saved]
    assert reasons[-1] == (12, "rung_end")
    assert "requested" in {reason for _, reason in reasons}
    assert result.control_queries > 1
