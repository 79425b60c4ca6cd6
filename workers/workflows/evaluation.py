"""BertEvalWorkflow: held-out metrics of one checkpoint."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app.domain import EvalInput, EvalOutcome
    from app.temporal import contract


@workflow.defn(name=contract.EVAL_WORKFLOW)
class BertEvalWorkflow:
    @workflow.run
    async def run(self, inp: EvalInput) -> EvalOutcome:
        # Evaluation runs on the training queue: it reads the checkpoint's weights, which live
        # where training wrote them, and it needs the torch stack the orchestration worker lacks.
        outcome: EvalOutcome = await workflow.execute_activity(
            contract.EVALUATE,
            inp,
            result_type=EvalOutcome,
            task_queue=contract.TRAINING_TASK_QUEUE,
            start_to_close_timeout=contract.EVALUATE_TIMEOUT,
            heartbeat_timeout=contract.EVALUATE_HEARTBEAT,
            retry_policy=contract.TRAINING_RETRY,
        )
        return outcome
