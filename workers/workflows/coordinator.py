"""CoordinatorWorkflow: one (trial, rung) run = training child, then evaluation child.

Sweeps started before trials ran as the sweep's own activities (see trial_run) still run
their trials through this workflow and its two children until they end; new sweeps don't.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from app.domain import EvalOutcome, FineTuneInput, TrainOutcome
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
            return TrialRunOutcome.stopped_early(train)
        evaluation: EvalOutcome = await workflow.execute_child_workflow(
            contract.EVAL_WORKFLOW,
            job.evaluation_of(train.checkpoint),
            id=f"{base_id}.eval",
            result_type=EvalOutcome,
            task_queue=workflow.info().task_queue,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
        )
        return TrialRunOutcome.evaluated(train, evaluation)
