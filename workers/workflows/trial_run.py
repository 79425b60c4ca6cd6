"""One (trial, rung) run, scheduled by the sweep workflow itself: one train_and_evaluate
activity (the evaluation follows training in the same attempt, on the same worker).

A child workflow per run cost several times what the run's activities cost, and a second
activity for the evaluation added a round trip through the sweep to every run (the
orchestration benchmark in BENCHMARKS.md measures each design). The activity id names the
run (``<sweep>.<trial>.r<rung>.<attempt>.run``), so a trial's work is still easy to find in
the Web UI; the sweep's history stays bounded because it continues as new when it grows long
(see SweepEngine._draining). Sweeps started before ONE_ACTIVITY_RUNS_PATCH replay with their
two activities (``.train`` then ``.eval``).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from app.domain import EvalOutcome, FineTuneInput, TrainOutcome
    from app.domain.jobs import TrialRunInput, TrialRunOutcome
    from app.temporal import contract


async def train_and_evaluate(inp: TrialRunInput) -> TrialRunOutcome:
    fine_tune_input = FineTuneInput(
        job=inp.job,
        control_poll_seconds=contract.CONTROL_POLL_SECONDS,
        heartbeat_timeout_seconds=inp.heartbeat_timeout_seconds,
    )
    heartbeat = timedelta(seconds=inp.heartbeat_timeout_seconds)
    # When the sweep is cancelled, wait until training has saved a checkpoint and stopped:
    # the sweep does not end while a worker still trains for it.
    wait_for_it = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
    if workflow.patched(contract.ONE_ACTIVITY_RUNS_PATCH):
        outcome: TrialRunOutcome = await workflow.execute_activity(
            contract.TRAIN_AND_EVALUATE,
            fine_tune_input,
            activity_id=f"{inp.run_key}.run",
            result_type=TrialRunOutcome,
            task_queue=contract.TRAINING_TASK_QUEUE,
            start_to_close_timeout=contract.TRAIN_AND_EVALUATE_TIMEOUT,
            heartbeat_timeout=heartbeat,
            retry_policy=contract.TRAINING_RETRY,
            cancellation_type=wait_for_it,
        )
        return outcome
    train: TrainOutcome = await workflow.execute_activity(
        contract.FINE_TUNE,
        fine_tune_input,
        activity_id=f"{inp.run_key}.train",
        result_type=TrainOutcome,
        task_queue=contract.TRAINING_TASK_QUEUE,
        start_to_close_timeout=contract.FINE_TUNE_TIMEOUT,
        heartbeat_timeout=heartbeat,
        retry_policy=contract.TRAINING_RETRY,
        cancellation_type=wait_for_it,
    )
    if train.stopped != "budget":
        return TrialRunOutcome.stopped_early(train)
    # Evaluation runs on the training queue: it reads the checkpoint's weights, which live
    # where training wrote them, and it needs the torch stack the orchestration worker lacks.
    evaluation: EvalOutcome = await workflow.execute_activity(
        contract.EVALUATE,
        inp.job.evaluation_of(train.checkpoint),
        activity_id=f"{inp.run_key}.eval",
        result_type=EvalOutcome,
        task_queue=contract.TRAINING_TASK_QUEUE,
        start_to_close_timeout=contract.EVALUATE_TIMEOUT,
        heartbeat_timeout=contract.EVALUATE_HEARTBEAT,
        retry_policy=contract.TRAINING_RETRY,
    )
    return TrialRunOutcome.evaluated(train, evaluation)
