"""A sweep's state as its workflow reports it, reconciled with how the execution ended.

A workflow cancelled before its first step, terminated by an operator, or timed out never
ran the code that records its end, so its own answer would say "running" forever."""

from __future__ import annotations

from datetime import UTC

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from app.domain import SweepResult, SweepStatus
from app.temporal import contract

_ENDED_AS: dict[WorkflowExecutionStatus, SweepStatus] = {
    WorkflowExecutionStatus.COMPLETED: SweepStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED: SweepStatus.FAILED,
    WorkflowExecutionStatus.CANCELED: SweepStatus.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: SweepStatus.CANCELLED,
    WorkflowExecutionStatus.TIMED_OUT: SweepStatus.FAILED,
}


async def sweep_state(handle: WorkflowHandle[object, SweepResult]) -> SweepResult:
    result: SweepResult = await handle.query(contract.PROGRESS_QUERY, result_type=SweepResult)
    if result.status not in (SweepStatus.RUNNING, SweepStatus.PAUSED):
        return result
    description = await handle.describe()
    execution = description.status
    ended = _ENDED_AS.get(execution) if execution is not None else None
    if execution is None or ended is None:  # still running, or continued as new
        return result
    close_time = description.close_time
    return result.model_copy(
        update={
            "status": ended,
            "ended_at": close_time.astimezone(UTC) if close_time else result.ended_at,
            "error": result.error or f"the workflow ended {execution.name.lower()}",
        }
    )
