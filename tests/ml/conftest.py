"""Fixtures for the ML layer: a small tweet snapshot, a job factory, a reference run.

Everything trains ``tiny-bert`` on 200 tweets with batch 8 (25 steps per epoch), so a
30-step ladder crosses an epoch boundary and a whole run takes about a second.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ml_helpers import MAX_STEPS, TRIAL_SEED, Evaluate, JobFactory, Reference

from app.domain import (
    CheckpointInfo,
    DatasetSnapshot,
    DatasetSpec,
    EvalInput,
    ModelSpec,
    Objective,
    TrainingParams,
    TrialConfig,
    TrialJob,
    TrialMetrics,
)
from workers.ml.checkpoints import trial_output_dir
from workers.ml.evaluate import evaluate_checkpoint
from workers.ml.hooks import TrainingHooks
from workers.ml.snapshot import create_snapshot
from workers.ml.train import fine_tune

TRAINING = TrainingParams(
    learning_rate=1e-3,
    warmup_ratio=0.1,
    per_device_train_batch_size=8,
    per_device_eval_batch_size=64,
    max_length=48,
    checkpoint_every_steps=5,
    keep_checkpoints=2,
)


@pytest.fixture(scope="session")
def snapshot_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("snapshots")


@pytest.fixture(scope="session")
def tweet_snapshot(snapshot_root: Path) -> DatasetSnapshot:
    spec = DatasetSpec(source="tweet-sentiment", max_train_samples=200, max_eval_samples=96)
    return create_snapshot(spec, snapshot_root)


@pytest.fixture(scope="session")
def make_job(tweet_snapshot: DatasetSnapshot) -> JobFactory:
    def make(
        artifact_root: Path,
        *,
        budget: float = MAX_STEPS,
        max_budget: float = MAX_STEPS,
        rung: int = 0,
        resume_from: CheckpointInfo | None = None,
        model: str = "tiny-bert",
        snapshot: DatasetSnapshot | None = None,
        trial_index: int = 3,
        checkpoint_generation: int = 0,
        **training: Any,
    ) -> TrialJob:
        return TrialJob(
            sweep_id="sweep-ml",
            sweep_workflow_id="sweep-ml-workflow",
            trial=TrialConfig(trial_index=trial_index, params={}, seed=TRIAL_SEED),
            rung=rung,
            budget=budget,
            max_budget=max_budget,
            unit="steps",
            model=ModelSpec(source=model),
            training=TRAINING.model_copy(update=training),
            snapshot=snapshot or tweet_snapshot,
            objective=Objective(),
            artifact_root=str(artifact_root),
            resume_from=resume_from,
            checkpoint_generation=checkpoint_generation,
        )

    return make


@pytest.fixture(scope="session")
def evaluate(tweet_snapshot: DatasetSnapshot) -> Evaluate:
    def run(checkpoint: CheckpointInfo) -> TrialMetrics:
        inp = EvalInput(
            checkpoint=checkpoint, snapshot=tweet_snapshot, batch_size=64, max_length=48
        )
        return evaluate_checkpoint(inp).metrics

    return run


@pytest.fixture(scope="session")
def reference(
    tmp_path_factory: pytest.TempPathFactory, make_job: JobFactory, evaluate: Evaluate
) -> Reference:
    root = tmp_path_factory.mktemp("reference")
    job = make_job(root, rung=1)
    reported: list[CheckpointInfo] = []
    outcome = fine_tune(job, TrainingHooks(on_checkpoint=reported.append))
    return Reference(outcome, evaluate(outcome.checkpoint), trial_output_dir(job), reported)


@pytest.fixture
def worker_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The worker's event loop, running in its own thread as in a real worker process."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()
