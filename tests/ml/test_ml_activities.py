"""The training-queue activities through temporalio's ActivityEnvironment."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
from ml_helpers import (
    MAX_STEPS,
    Evaluate,
    FakeClient,
    JobFactory,
    Reference,
    assert_same_metrics,
)
from prometheus_client import REGISTRY
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import ActivityEnvironment

from app.domain import (
    CheckpointInfo,
    DatasetSnapshot,
    DatasetSpec,
    FineTuneInput,
    SnapshotInput,
    TrialControl,
)
from app.temporal import contract
from workers.activities.training_queue import (
    TrainingActivities,
    resume_from_heartbeat,
)
from workers.ml.checkpoints import is_complete
from workers.ml.train import fine_tune


def activities(
    loop: asyncio.AbstractEventLoop,
    client: FakeClient | None,
    keepalive_seconds: float = 10,
    rpc_timeout_seconds: float = 5,
) -> TrainingActivities:
    return TrainingActivities(
        loop,
        client,  # type: ignore[arg-type]
        rpc_timeout_seconds=rpc_timeout_seconds,
        keepalive_seconds=keepalive_seconds,
    )


def fine_tune_input(job: Any, poll_seconds: float = 3.0) -> FineTuneInput:
    return FineTuneInput(job=job, control_poll_seconds=poll_seconds)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def assert_bad_input(error: pytest.ExceptionInfo[ApplicationError], *fragments: str) -> None:
    assert error.value.type == contract.BAD_INPUT_ERROR
    assert error.value.non_retryable
    for fragment in fragments:
        assert fragment in error.value.message


def test_snapshot_missing_column_is_non_retryable(
    tmp_path: Path, worker_loop: asyncio.AbstractEventLoop
) -> None:
    csv = tmp_path / "reviews.csv"
    csv.write_text("review,stars\ngood,5\nbad,1\n")
    spec = DatasetSpec(source=str(csv), text_field="body", label_field="stars")
    inp = SnapshotInput(dataset=spec, snapshot_root=str(tmp_path / "snaps"))
    with pytest.raises(ApplicationError) as error:
        ActivityEnvironment().run(activities(worker_loop, None).snapshot_dataset, inp)
    assert_bad_input(error, "dataset.text_field 'body'", "columns: review, stars")


def test_snapshot_missing_file_is_non_retryable(
    tmp_path: Path, worker_loop: asyncio.AbstractEventLoop
) -> None:
    inp = SnapshotInput(
        dataset=DatasetSpec(source=str(tmp_path / "nope.csv")), snapshot_root=str(tmp_path)
    )
    with pytest.raises(ApplicationError) as error:
        ActivityEnvironment().run(activities(worker_loop, None).snapshot_dataset, inp)
    assert_bad_input(error, "nope.csv", "no such file")


def test_snapshot_activity_heartbeats_and_returns_the_snapshot(
    tmp_path: Path, worker_loop: asyncio.AbstractEventLoop
) -> None:
    csv = tmp_path / "reviews.csv"
    csv.write_text("text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(20)))
    inp = SnapshotInput(dataset=DatasetSpec(source=str(csv)), snapshot_root=str(tmp_path / "s"))
    env = ActivityEnvironment()
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    snap = env.run(activities(worker_loop, None, keepalive_seconds=0.005).snapshot_dataset, inp)
    assert isinstance(snap, DatasetSnapshot)
    assert snap.label_names == ["0", "1"]
    # A helper thread keeps heartbeating while the snapshot is built, naming the stage.
    assert beats
    assert {stage for (stage,) in beats} <= {"starting", "loading", "normalising", "writing"}


def test_fine_tune_missing_model_path_is_non_retryable(
    tmp_path: Path, worker_loop: asyncio.AbstractEventLoop, make_job: JobFactory
) -> None:
    job = make_job(tmp_path, model="./models/does-not-exist")
    bad_runs = metric("sweeps_training_runs_total", outcome="bad_input")
    with pytest.raises(ApplicationError) as error:
        ActivityEnvironment().run(
            activities(worker_loop, None).train_and_evaluate, fine_tune_input(job)
        )
    assert_bad_input(error, "model.source './models/does-not-exist'", "no such directory")
    assert metric("sweeps_training_runs_total", outcome="bad_input") == bad_runs + 1
    assert metric("sweeps_trials_running") == 0


def test_fine_tune_heartbeats_reports_checkpoints_and_polls_control(
    tmp_path: Path, worker_loop: asyncio.AbstractEventLoop, make_job: JobFactory
) -> None:
    client = FakeClient()
    client.control = TrialControl(checkpoint_generation=4)
    env = ActivityEnvironment()
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    # The sweep started the trial at generation 4: no checkpoint-now request is pending.
    job = make_job(tmp_path, budget=12, checkpoint_generation=4)
    counted = {
        name: metric(name)
        for name in (
            "sweeps_checkpoint_save_seconds_count",
            "sweeps_train_steps_total",
            "sweeps_train_samples_total",
        )
    }
    finished = metric("sweeps_training_runs_total", outcome="budget")
    outcome = env.run(
        activities(worker_loop, client).train_and_evaluate, fine_tune_input(job, 0.001)
    )

    assert outcome.global_step == 12
    # The worker's Prometheus series: three saves, 12 steps of batch 8, one run to budget.
    moved = {name: metric(name) - before for name, before in counted.items()}
    assert moved == {
        "sweeps_checkpoint_save_seconds_count": 3,
        "sweeps_train_steps_total": 12,
        "sweeps_train_samples_total": 12 * 8,
    }
    assert metric("sweeps_training_runs_total", outcome="budget") == finished + 1
    assert metric("sweeps_train_samples_per_second") > 0
    assert metric("sweeps_trials_running") == 0
    # The sweep hears of each checkpoint, for its event journal.
    assert {(wf, name) for wf, name, _ in client.signals} == {
        (job.sweep_workflow_id, contract.CHECKPOINT_SAVED_SIGNAL)
    }
    saved = [arg for _, _, arg in client.signals]
    assert [(s.trial_id, s.rung, s.checkpoint.step, s.checkpoint.reason) for s in saved] == [
        (job.trial_id, job.rung, 5, "interval"),
        (job.trial_id, job.rung, 10, "interval"),
        (job.trial_id, job.rung, 12, "rung_end"),
    ]
    assert client.queries
    assert set(client.queries) == {(job.sweep_workflow_id, contract.TRIAL_CONTROL_QUERY, "t0003")}
    # Heartbeat details[0] is the newest complete checkpoint, as JSON, for a retry to resume.
    last_checkpoint, progress = [beat for beat in beats if "step" in beat[1]][-1]
    assert CheckpointInfo.model_validate(last_checkpoint) == outcome.checkpoint
    assert progress["step"] == 12


def test_failed_control_queries_do_not_stop_training(
    tmp_path: Path, worker_loop: asyncio.AbstractEventLoop, make_job: JobFactory
) -> None:
    client = FakeClient()
    client.query_error = RuntimeError("sweep workflow unreachable")
    job = make_job(tmp_path, budget=6)
    outcome = ActivityEnvironment().run(
        activities(worker_loop, client).train_and_evaluate, fine_tune_input(job, 0.001)
    )
    assert outcome.global_step == 6
    assert len(client.queries) > 1


def test_unanswered_control_query_does_not_stall_training(
    tmp_path: Path, worker_loop: asyncio.AbstractEventLoop, make_job: JobFactory
) -> None:
    # The sweep's workflow worker is down: its query would wait for the RPC timeout (30 s
    # here, far longer than the run takes). Training goes on meanwhile, with one query in
    # flight at a time.
    client = FakeClient()
    client.query_hangs = True
    job = make_job(tmp_path, budget=12)
    started = time.monotonic()
    acts = activities(worker_loop, client, rpc_timeout_seconds=30)
    outcome = ActivityEnvironment().run(acts.train_and_evaluate, fine_tune_input(job, 0.001))
    assert outcome.global_step == 12
    assert len(client.queries) == 1
    assert time.monotonic() - started < 30  # never waited out the query timeout


def test_retry_resumes_from_the_heartbeated_checkpoint(
    tmp_path: Path,
    worker_loop: asyncio.AbstractEventLoop,
    make_job: JobFactory,
    evaluate: Evaluate,
    reference: Reference,
) -> None:
    # The previous attempt got to step 12 (in another directory, so only the heartbeat
    # can tell this attempt about it).
    earlier = fine_tune(make_job(tmp_path / "first-attempt", budget=12, rung=1))
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, attempt=2, heartbeat_details=[earlier.checkpoint.model_dump(mode="json")]
    )
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    job = make_job(tmp_path / "second-attempt", rung=1)
    outcome = env.run(activities(worker_loop, None).train_and_evaluate, fine_tune_input(job))
    assert beats[0][1]["step"] == 12  # started where the first attempt left off
    assert outcome.global_step == MAX_STEPS
    assert_same_metrics(evaluate(outcome.checkpoint), reference.metrics)


def test_resume_from_heartbeat_only_takes_newer_complete_checkpoints(
    tmp_path: Path, make_job: JobFactory
) -> None:
    done = fine_tune(make_job(tmp_path, budget=5)).checkpoint
    details = [done.model_dump(mode="json")]
    job = make_job(tmp_path)
    assert resume_from_heartbeat(job, 1, details) is job  # first attempt: nothing to resume
    assert resume_from_heartbeat(job, 2, [None, {}]) is job
    assert resume_from_heartbeat(job, 2, details).resume_from == done
    newer = done.model_copy(update={"step": 9})
    assert (
        resume_from_heartbeat(job.model_copy(update={"resume_from": newer}), 2, details).resume_from
        == newer
    )
    gone = done.model_copy(update={"path": str(tmp_path / "checkpoint-404")})
    assert resume_from_heartbeat(job, 2, [gone.model_dump(mode="json")]) is job


def test_cancellation_saves_a_checkpoint_then_acknowledges_it(
    tmp_path: Path, worker_loop: asyncio.AbstractEventLoop, make_job: JobFactory
) -> None:
    env = ActivityEnvironment()
    beats: list[tuple[Any, ...]] = []

    def cancel_at_once(*details: Any) -> None:
        beats.append(details)
        env.cancel()

    env.on_heartbeat = cancel_at_once
    with pytest.raises(CancelledError):
        env.run(
            activities(worker_loop, None).train_and_evaluate, fine_tune_input(make_job(tmp_path))
        )
    # It stopped at the next step with a checkpoint, heartbeated for whoever resumes it.
    saved = CheckpointInfo.model_validate(beats[-1][0])
    assert (saved.step, saved.reason) == (1, "cancel")
    assert is_complete(saved.path)


def test_worker_shutdown_checkpoints_then_fails_retryably(
    tmp_path: Path, worker_loop: asyncio.AbstractEventLoop, make_job: JobFactory
) -> None:
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: env.worker_shutdown()
    with pytest.raises(ApplicationError) as error:
        env.run(
            activities(worker_loop, None).train_and_evaluate, fine_tune_input(make_job(tmp_path))
        )
    assert error.value.type == contract.INTERRUPTED_ERROR
    assert not error.value.non_retryable
    saved = CheckpointInfo.model_validate(error.value.details[0])
    assert (saved.step, saved.reason) == (1, "pause")
    assert is_complete(saved.path)


def test_resuming_from_an_incomplete_checkpoint_is_non_retryable(
    tmp_path: Path, worker_loop: asyncio.AbstractEventLoop, make_job: JobFactory
) -> None:
    half = tmp_path / "checkpoint-3"
    half.mkdir()
    job = make_job(tmp_path, rung=1).model_copy(
        update={"resume_from": CheckpointInfo(path=str(half), step=3, epoch=0.1, rung=0)}
    )
    with pytest.raises(ApplicationError) as error:
        ActivityEnvironment().run(
            activities(worker_loop, None).train_and_evaluate, fine_tune_input(job)
        )
    assert_bad_input(error, "incomplete")


def test_train_and_evaluate_trains_to_the_budget_then_evaluates_in_one_attempt(
    tmp_path: Path,
    worker_loop: asyncio.AbstractEventLoop,
    make_job: JobFactory,
    reference: Reference,
) -> None:
    job = make_job(tmp_path, rung=1)
    beats: list[tuple[Any, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    outcome = env.run(
        activities(worker_loop, None, keepalive_seconds=0.01).train_and_evaluate,
        fine_tune_input(job),
    )
    assert outcome.stopped == "budget" and outcome.global_step == MAX_STEPS
    assert outcome.metrics is not None
    assert_same_metrics(outcome.metrics, reference.metrics)
    assert outcome.eval_seconds > 0
    # While it evaluates, its heartbeats still name the checkpoint a retry resumes from.
    evaluating = [b for b in beats if len(b) > 1 and "evaluating" in b[1]]
    assert evaluating and evaluating[-1][0]["path"] == outcome.checkpoint.path


def test_train_and_evaluate_retried_after_training_only_evaluates(
    tmp_path: Path,
    worker_loop: asyncio.AbstractEventLoop,
    make_job: JobFactory,
    reference: Reference,
) -> None:
    # The first attempt trained to the budget (the reference run) and died evaluating.
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        attempt=2,
        heartbeat_details=[reference.outcome.checkpoint.model_dump(mode="json")],
    )
    job = make_job(tmp_path / "second-attempt", rung=1)
    outcome = env.run(activities(worker_loop, None).train_and_evaluate, fine_tune_input(job))
    assert outcome.checkpoint == reference.outcome.checkpoint  # nothing trained or saved again
    assert not (tmp_path / "second-attempt").exists() or not any(
        (tmp_path / "second-attempt").rglob("checkpoint-*")
    )
    assert outcome.metrics is not None
    assert_same_metrics(outcome.metrics, reference.metrics)
