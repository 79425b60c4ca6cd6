"""Artifacts reachable from every machine: an S3 artifact root (moto's S3-compatible server),
two training workers with local scratch directories of their own. The worker that runs the
trial is killed with SIGKILL after a checkpoint was reported and its disk is wiped; the other
one resumes the trial from the checkpoint in the bucket, and the sweep completes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from app.cli.embedded import WorkerProcess
from tests.e2e.drills import (
    CHECKPOINT_EVERY,
    Driver,
    embedded_stack,
    tiny_sweep,
    training_log,
    wait_for_checkpoint,
)
from tests.object_store import S3Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BUDGET = 160
TRAINING_WORKERS = ("training", "training-b")


def test_a_trial_resumes_on_another_worker_from_the_shared_checkpoint(
    s3: S3Server, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    scratch = {name: tmp_path / f"scratch-{name}" for name in TRAINING_WORKERS}
    workers = (
        "orchestration",
        *(
            WorkerProcess(name, "training", {"SWEEPS_SCRATCH_DIR": str(scratch[name])})
            for name in TRAINING_WORKERS
        ),
    )
    body = tiny_sweep(
        "shared-artifacts",
        800,
        200,
        ladder={"unit": "steps", "trials": 1, "rungs": [{"budget": BUDGET}]},
        max_concurrency=1,
        seed=11,
    )
    with (
        embedded_stack(
            tmp_path / "data",
            workers=workers,
            artifact_root=f"s3://{bucket}/sweeps",
            training_heartbeat_timeout_seconds=10,
        ) as stack,
        Driver(stack) as drive,
    ):
        sweep_id = drive.submit(body)
        reported = wait_for_checkpoint(stack, sweep_id, "t0000", 0, CHECKPOINT_EVERY)
        # A reported checkpoint is in the bucket already, marker and all.
        trial = f"sweeps/{sweep_id}/t0000"
        assert reported.path.startswith(f"s3://{bucket}/{trial}/checkpoint-")
        assert f"{trial}/checkpoint-{reported.step}/checkpoint-complete.json" in s3.keys(bucket)

        started = rf"activity\.fine_tune\.start sweep_id={re.escape(sweep_id)} "
        first = next(w for w in TRAINING_WORKERS if re.search(started, training_log(stack, w)))
        second = next(w for w in TRAINING_WORKERS if w != first)
        stack.kill(first, forget=True)
        shutil.rmtree(scratch[first])  # its disk goes with it: only the bucket is left

        assert drive.wait_until_ended(sweep_id)["status"] == "completed"
        result = drive.result(sweep_id)

    assert result["trials"][0]["rungs"][0]["global_step"] == BUDGET
    log = training_log(stack, second)
    attempts = re.findall(started + r".*?attempt=(\d+)", log)
    assert attempts == ["2"], attempts
    resumed_at = re.findall(
        rf"(?<!activity\.)fine_tune\.start sweep_id={re.escape(sweep_id)} .*?resume_step=(\d+)", log
    )
    assert len(resumed_at) == 1 and CHECKPOINT_EVERY <= int(resumed_at[0]) < BUDGET, resumed_at
    fetched = rf"checkpoint\.fetched source=s3://{bucket}/{trial}/checkpoint-{resumed_at[0]} "
    assert re.search(fetched, log), "the second worker did not fetch the checkpoint"

    keys = s3.keys(bucket)
    assert f"{trial}/checkpoint-{BUDGET}/checkpoint-complete.json" in keys
    assert any(key.startswith("sweeps/snapshots/ds-") for key in keys)
    assert not scratch[first].exists()
    # The finished trial's checkpoints are all in the bucket, none left on the second disk.
    assert not list(scratch[second].rglob("checkpoint-*"))
