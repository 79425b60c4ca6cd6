"""CheckpointedBertTrainingWorkflow: one trial trained to one rung's budget.

Owns the fine-tune activity of a (trial, rung) and remembers the latest checkpoint the
activity reported, so anyone can ask where the trial stands while it trains.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from app.domain import CheckpointInfo, FineTuneInput, TrainOutcome
    from app.temporal import contract


@workflow.defn(name=contract.TRAINING_WORKFLOW)
class CheckpointedBertTrainingWorkflow:
    def __init__(self) -> None:
        self._latest: CheckpointInfo | None = None

    @workflow.run
    async def run(self, inp: FineTuneInput) -> TrainOutcome:
        self._latest = inp.job.resume_from
        outcome: TrainOutcome = await workflow.execute_activity(
            contract.FINE_TUNE,
            inp,
            result_type=TrainOutcome,
            task_queue=contract.TRAINING_TASK_QUEUE,
            start_to_close_timeout=contract.FINE_TUNE_TIMEOUT,
            heartbeat_timeout=timedelta(seconds=inp.heartbeat_timeout_seconds),
            retry_policy=contract.TRAINING_RETRY,
            # When the sweep is cancelled, wait until training has saved a checkpoint and
            # stopped: the run does not end while its worker still trains.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        self._latest = outcome.checkpoint
        return outcome

    @workflow.signal(name=contract.REPORT_CHECKPOINT_SIGNAL)
    def report_checkpoint(self, checkpoint: CheckpointInfo) -> None:
        if self._latest is None or checkpoint.step >= self._latest.step:
            self._latest = checkpoint

    @workflow.query(name=contract.LATEST_CHECKPOINT_QUERY)
    def latest_checkpoint(self) -> CheckpointInfo | None:
        return self._latest
