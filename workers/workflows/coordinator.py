"""CoordinatorWorkflow: one (trial, rung) run = training child, then evaluation child.

Each run keeps its own history, apart from the sweep's, so long sweeps stay far from
Temporal's history limits, and each trial's work is easy to find in the Web UI.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from app.domain import EvalInput, EvalOutcome, FineTuneInput, TrainOutcome
    from app.domain.jobs import TrialRunInput, TrialRunOutcome
    from app.temporal import contract


@workflow.defn(name=contract.COORDINATOR_WORKFLOW)
class CoordinatorWorkflow:
    @workflow.run
    async def run(self, inp: TrialRunInput) -> TrialRunOutcome:
        base_id = workflow.info().workflow_id
        job = inp.job
        train: TrainOutcome = await workflow.execute_child_workflow(
            contract.TRAINING_WORKFLOW,
            FineTuneInput(
                job=job,
                training_workflow_id=f"{base_id}.train",
                control_poll_seconds=contract.CONTROL_POLL_SECONDS,
                heartbeat_timeout_seconds=inp.heartbeat_timeout_seconds,
            ),
            id=f"{base_id}.train",
            result_type=TrainOutcome,
            task_queue=workflow.info().task_queue,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
        )
        if train.stopped != "budget":
            return TrialRunOutcome(
                stopped=train.stopped,
                checkpoint=train.checkpoint,
                global_step=train.global_step,
                train_seconds=train.train_seconds,
            )
        evaluation: EvalOutcome = await workflow.execute_child_workflow(
            contract.EVAL_WORKFLOW,
            EvalInput(
                checkpoint=train.checkpoint,
                snapshot=job.snapshot,
                batch_size=job.training.per_device_eval_batch_size,
                max_length=job.training.max_length,
            ),
            id=f"{base_id}.eval",
            result_type=EvalOutcome,
            task_queue=workflow.info().task_queue,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
        )
        return TrialRunOutcome(
            stopped="budget",
            checkpoint=train.checkpoint,
            global_step=train.global_step,
            train_seconds=train.train_seconds,
            metrics=evaluation.metrics,
            eval_seconds=evaluation.eval_seconds,
        )
