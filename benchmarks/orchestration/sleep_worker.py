"""A stand-in training worker for the orchestration benchmark: its training sleeps.

    python -m benchmarks.orchestration.sleep_worker   (started by the orchestration benchmark)

It polls the training queue under the real activity names (the dataset snapshot and each
(trial, rung) run's train_and_evaluate), so everything around training runs for real: the
sweep workflow, proposals, the results-index mirror, the API. Training sleeps one second per
unit of budget (a ladder of budget 1 is a 1-second trial); the evaluation that follows returns
at once with a score derived from the checkpoint's name, since model evaluation is the ML
cost, measured apart (benchmarks.service.service_overhead).
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

from temporalio import activity
from temporalio.worker import Worker

from app.domain import (
    CheckpointInfo,
    DatasetSnapshot,
    EvalInput,
    EvalOutcome,
    FineTuneInput,
    SnapshotInput,
    TrainOutcome,
    TrialMetrics,
)
from app.domain.workflow_io import TrialRunOutcome
from app.settings import Settings
from app.temporal import contract
from app.temporal.client import connect
from workers.runtime import run_until_signalled

# Far more than any benchmark's concurrency: the worker must never be the bottleneck.
SLOTS = 256


@activity.defn(name=contract.SNAPSHOT_DATASET)
async def snapshot_dataset(inp: SnapshotInput) -> DatasetSnapshot:
    return DatasetSnapshot(
        snapshot_id="sleep0001",
        path=f"{inp.snapshot_root}/sleep0001",
        train_rows=1000,
        eval_rows=100,
        label_names=["negative", "neutral", "positive"],
        has_text_pair=False,
        source=inp.dataset.source,
    )


async def sleep_through(inp: FineTuneInput) -> TrainOutcome:
    job = inp.job
    await asyncio.sleep(float(job.budget))
    step = int(job.budget)
    checkpoint = CheckpointInfo(
        path=f"{job.artifact_root}/{job.sweep_id}/{job.trial_id}/checkpoint-{step}",
        step=step,
        epoch=0.0,
        rung=job.rung,
        reason="rung_end",
    )
    return TrainOutcome(
        checkpoint=checkpoint, global_step=step, train_loss=0.5, train_seconds=float(job.budget)
    )


def score(inp: EvalInput) -> EvalOutcome:
    digest = hashlib.sha256(inp.checkpoint.path.encode()).digest()
    accuracy = 0.5 + digest[0] / 1000
    return EvalOutcome(
        metrics=TrialMetrics(
            accuracy=accuracy, f1_macro=accuracy, eval_loss=1 - accuracy, num_examples=100
        ),
        eval_seconds=0.0,
    )


@activity.defn(name=contract.TRAIN_AND_EVALUATE)
async def train_and_evaluate(inp: FineTuneInput) -> TrialRunOutcome:
    train = await sleep_through(inp)
    evaluation = score(inp.job.evaluation_of(train.checkpoint))
    return TrialRunOutcome.evaluated(train, evaluation)


async def run() -> None:
    client = await connect(Settings(), wait_seconds=60)
    worker = Worker(
        client,
        task_queue=contract.TRAINING_TASK_QUEUE,
        activities=[snapshot_dataset, train_and_evaluate],
        max_concurrent_activities=SLOTS,
        graceful_shutdown_timeout=timedelta(seconds=5),
    )
    await run_until_signalled(worker)


if __name__ == "__main__":
    asyncio.run(run())
