"""One (trial, rung) run as two activities of the sweep workflow: fine-tune, then evaluate.

A child workflow per run cost several times what the run's activities cost (the
orchestration benchmark in BENCHMARKS.md measures both), so the sweep schedules them itself.
The activity ids name the run (``<sweep>.<trial>.r<rung>.<attempt>.train`` and ``.eval``),
so a trial's work is still easy to find in the Web UI; the sweep's history stays bounded
because it continues as new when it grows long (see SweepEngine._draining).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from app.domain import EvalInput, EvalOutcome, FineTuneInput, TrainOutcome
    from app.domain.jobs import TrialRunInput, TrialRunOutcome
    from app.temporal import contract


async def train_and_evaluate(inp: TrialRunInput) -> TrialRunOutcome:
    job = inp.job
    train: TrainOutcome = await workflow.execute_activity(
        contract.FINE_TUNE,
        FineTuneInput(
            job=job,
            control_poll_seconds=contract.CONTROL_POLL_SECONDS,
            heartbeat_timeout_seconds=inp.heartbeat_timeout_seconds,
        ),
        activity_id=f"{inp.run_key}.train",
        result_type=TrainOutcome,
        task_queue=contract.TRAINING_TASK_QUEUE,
        start_to_close_timeout=contract.FINE_TUNE_TIMEOUT,
        heartbeat_timeout=timedelta(seconds=inp.heartbeat_timeout_seconds),
        retry_policy=contract.TRAINING_RETRY,
        # When the sweep is cancelled, wait until training has saved a checkpoint and
        # stopped: the sweep does not end while a worker still trains for it.
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )
    if train.stopped != "budget":
        return stopped_early(train)
    # Evaluation runs on the training queue: it reads the checkpoint's weights, which live
    # where training wrote them, and it needs the torch stack the orchestration worker lacks.
    evaluation: EvalOutcome = await workflow.execute_activity(
        contract.EVALUATE,
        evaluation_input(inp, train),
        activity_id=f"{inp.run_key}.eval",
        result_type=EvalOutcome,
        task_queue=contract.TRAINING_TASK_QUEUE,
        start_to_close_timeout=contract.EVALUATE_TIMEOUT,
        heartbeat_timeout=contract.EVALUATE_HEARTBEAT,
        retry_policy=contract.TRAINING_RETRY,
    )
    return evaluated(train, evaluation)


def evaluation_input(inp: TrialRunInput, train: TrainOutcome) -> EvalInput:
    job = inp.job
    return EvalInput(
        checkpoint=train.checkpoint,
        snapshot=job.snapshot,
        batch_size=job.training.per_device_eval_batch_size,
        max_length=job.training.max_length,
    )


def stopped_early(train: TrainOutcome) -> TrialRunOutcome:
    """A run paused or cancelled before its budget: where it stopped, no metrics."""
    return TrialRunOutcome(
        stopped=train.stopped,
        checkpoint=train.checkpoint,
        global_step=train.global_step,
        train_seconds=train.train_seconds,
    )


def evaluated(train: TrainOutcome, evaluation: EvalOutcome) -> TrialRunOutcome:
    return TrialRunOutcome(
        stopped="budget",
        checkpoint=train.checkpoint,
        global_step=train.global_step,
        train_seconds=train.train_seconds,
        metrics=evaluation.metrics,
        eval_seconds=evaluation.eval_seconds,
    )
