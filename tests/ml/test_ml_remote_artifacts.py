"""Training, resuming, evaluating and snapshotting with an S3 artifact root (moto's server):
each worker works in a scratch directory of its own, and what one worker saved another
resumes and evaluates exactly. A local root keeps working without any copy."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from ml_helpers import (
    MAX_STEPS,
    JobFactory,
    Reference,
    ScriptedControl,
    SimulatedCrash,
    assert_same_metrics,
)
from temporalio.testing import ActivityEnvironment

from app.domain import CheckpointInfo, DatasetSnapshot, DatasetSpec, EvalInput, FineTuneInput
from tests.object_store import S3Server
from workers.activities.training_queue import TrainingActivities
from workers.ml.checkpoints import complete_checkpoints, is_complete, trial_output_dir
from workers.ml.evaluate import evaluate_checkpoint
from workers.ml.hooks import TrainingHooks
from workers.ml.normalise import EVAL_SPLIT
from workers.ml.snapshot import create_snapshot, load_snapshot_splits
from workers.ml.train import fine_tune

pytestmark = pytest.mark.slow


def evaluate_on(scratch: Path, checkpoint: CheckpointInfo, snapshot: DatasetSnapshot) -> Any:
    inp = EvalInput(checkpoint=checkpoint, snapshot=snapshot, batch_size=64, max_length=48)
    return evaluate_checkpoint(inp, scratch=scratch).metrics


def only_durable(seen: list[CheckpointInfo]) -> TrainingHooks:
    """Hooks that record reported checkpoints, checking each is in the root when reported."""

    def report(info: CheckpointInfo) -> None:
        assert info.path.startswith("s3://") and is_complete(info.path), info
        seen.append(info)

    return TrainingHooks(on_checkpoint=report)


def test_a_remote_root_trains_prunes_and_evaluates_like_a_local_one(
    s3: S3Server, tmp_path: Path, make_job: JobFactory, reference: Reference
) -> None:
    bucket = s3.new_bucket()
    job = make_job(f"s3://{bucket}/sweeps", rung=1)
    seen: list[CheckpointInfo] = []
    outcome = fine_tune(job, only_durable(seen), scratch=tmp_path / "worker-a")

    assert [c.step for c in seen] == [5, 10, 15, 20, 25, 30]
    assert outcome.checkpoint == seen[-1].model_copy(update={"rung": 1})
    trial = f"{bucket}/sweeps/{job.sweep_id}/{job.trial_id}"
    assert [c.step for c in complete_checkpoints(f"s3://{trial}")] == [25, 30]  # pruned there
    assert {key.split("/")[3] for key in s3.keys(trial)} == {"checkpoint-25", "checkpoint-30"}
    # Everything is in the bucket: the worker's scratch keeps nothing of a finished run.
    assert not trial_output_dir(job, tmp_path / "worker-a").exists()

    metrics = evaluate_on(tmp_path / "worker-b", outcome.checkpoint, job.snapshot)
    assert_same_metrics(metrics, reference.metrics)
    assert list((tmp_path / "worker-b").iterdir()) == []  # the evaluation copy is gone


def test_a_crashed_run_resumes_on_another_worker_from_the_bucket(
    s3: S3Server, tmp_path: Path, make_job: JobFactory, reference: Reference
) -> None:
    job = make_job(f"s3://{s3.new_bucket()}/sweeps", rung=1)
    first_disk = tmp_path / "worker-a"
    crash = ScriptedControl(crash_after_step=17)
    with pytest.raises(SimulatedCrash):
        fine_tune(job, TrainingHooks(poll_control=crash, control_poll_seconds=0), first_disk)
    shutil.rmtree(first_disk)  # the first machine is gone, with its disk

    seen: list[CheckpointInfo] = []
    resumed = fine_tune(job, only_durable(seen), scratch=tmp_path / "worker-b")
    assert [c.step for c in seen] == [20, 25, 30]  # picked up at 15, from the bucket
    assert resumed.global_step == MAX_STEPS
    metrics = evaluate_on(tmp_path / "worker-c", resumed.checkpoint, job.snapshot)
    assert_same_metrics(metrics, reference.metrics)


def test_a_retry_resumes_from_the_heartbeated_remote_checkpoint(
    s3: S3Server,
    tmp_path: Path,
    worker_loop: asyncio.AbstractEventLoop,
    make_job: JobFactory,
    reference: Reference,
) -> None:
    root = f"s3://{s3.new_bucket()}/sweeps"
    earlier = fine_tune(make_job(root, budget=12, rung=1), scratch=tmp_path / "worker-a")
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, attempt=2, heartbeat_details=[earlier.checkpoint.model_dump(mode="json")]
    )
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    acts = TrainingActivities(worker_loop, None, scratch_dir=tmp_path / "worker-b")
    inp = FineTuneInput(job=make_job(root, rung=1))
    outcome = env.run(acts.train_and_evaluate, inp)

    assert beats[0][1]["step"] == 12  # started where the first attempt left off
    heartbeated = [CheckpointInfo.model_validate(b[0]) for b in beats if b[0] is not None]
    assert all(c.path.startswith("s3://") for c in heartbeated)  # never a scratch path
    assert outcome.global_step == MAX_STEPS
    metrics = evaluate_on(tmp_path / "worker-c", outcome.checkpoint, inp.job.snapshot)
    assert_same_metrics(metrics, reference.metrics)


def test_a_snapshot_is_written_once_to_the_bucket_and_cached_by_each_worker(
    s3: S3Server, tmp_path: Path, tweet_snapshot: DatasetSnapshot
) -> None:
    root = f"s3://{s3.new_bucket()}/sweeps/snapshots"
    spec = DatasetSpec(source="tweet-sentiment", max_train_samples=200, max_eval_samples=96)
    made = create_snapshot(spec, root, scratch=tmp_path / "worker-a")
    assert made.path == f"{root}/{tweet_snapshot.snapshot_id}"
    assert made.model_copy(update={"path": tweet_snapshot.path}) == tweet_snapshot
    again = create_snapshot(spec, root, scratch=tmp_path / "worker-b")
    assert again == made

    shutil.rmtree(tmp_path / "worker-a")
    splits = load_snapshot_splits(made, scratch=tmp_path / "worker-b")
    local = load_snapshot_splits(tweet_snapshot)
    assert splits[EVAL_SPLIT]["text"] == local[EVAL_SPLIT]["text"]
    assert any((tmp_path / "worker-b").rglob("snapshot.json"))  # cached for the next trial


def test_a_local_root_is_used_in_place_without_scratch_copies(
    tmp_path: Path, make_job: JobFactory
) -> None:
    job = make_job(tmp_path / "root", budget=10)
    scratch = tmp_path / "scratch"
    seen: list[CheckpointInfo] = []
    outcome = fine_tune(job, TrainingHooks(on_checkpoint=seen.append), scratch=scratch)
    output = tmp_path / "root" / job.sweep_id / job.trial_id
    assert [c.path for c in seen] == [str(output / "checkpoint-5"), str(output / "checkpoint-10")]
    assert trial_output_dir(job, scratch) == output
    assert outcome.checkpoint.path == str(output / "checkpoint-10")
    assert not scratch.exists()
    metrics = evaluate_on(scratch, outcome.checkpoint, job.snapshot)
    assert metrics.num_examples == job.snapshot.eval_rows
    assert not scratch.exists()
