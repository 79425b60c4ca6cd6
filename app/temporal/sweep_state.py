"""A sweep's state and event journal as its workflow reports them, reconciled with how the
execution ended.

A workflow cancelled before its first step, terminated by an operator, or timed out never
ran the code that records its end, so its own answer would say "running" forever."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from app.domain import CheckpointInfo, SweepResult, SweepStatus
from app.domain.sweep_events import SweepEvent, SweepEventPage
from app.temporal import contract

_ENDED_AS: dict[WorkflowExecutionStatus, SweepStatus] = {
    WorkflowExecutionStatus.COMPLETED: SweepStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED: SweepStatus.FAILED,
    WorkflowExecutionStatus.CANCELED: SweepStatus.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: SweepStatus.CANCELLED,
    WorkflowExecutionStatus.TIMED_OUT: SweepStatus.FAILED,
}


@dataclass(frozen=True)
class Closed:
    """How an execution ended, in the sweep's words."""

    status: SweepStatus
    at: datetime | None
    reason: str


async def sweep_state(handle: WorkflowHandle[object, SweepResult]) -> SweepResult:
    result: SweepResult = await handle.query(contract.PROGRESS_QUERY, result_type=SweepResult)
    if result.status not in (SweepStatus.RUNNING, SweepStatus.PAUSED):
        return result
    closed = await _closed(handle)
    if closed is None:
        return result
    return result.model_copy(
        update={
            "status": closed.status,
            "ended_at": closed.at or result.ended_at,
            "error": result.error or closed.reason,
        }
    )


async def sweep_events(handle: WorkflowHandle[object, SweepResult], after: int) -> SweepEventPage:
    """The journal's events after ``after``; a closed execution whose journal never told its
    end gets a sweep.ended of its own (id ``next_id``), so followers always learn it."""
    page: SweepEventPage = await handle.query(
        contract.EVENTS_QUERY, after, result_type=SweepEventPage
    )
    if page.ended or (page.events and page.events[-1].id < page.next_id - 1):
        return page  # told by the journal, or more pages come first
    closed = await _closed(handle)
    if closed is None:
        return page
    end = SweepEvent(
        id=page.next_id,
        type="sweep.ended",
        at=closed.at or datetime.now(UTC),
        sweep_id=handle.id,
        status=closed.status.value,
        error=closed.reason,
    )
    told = [end] if end.id > after else []
    return page.model_copy(
        update={"events": [*page.events, *told], "next_id": end.id + 1, "ended": True}
    )


async def _closed(handle: WorkflowHandle[object, SweepResult]) -> Closed | None:
    """None while the execution runs (or when it continued as new)."""
    description = await handle.describe()
    execution = description.status
    ended = _ENDED_AS.get(execution) if execution is not None else None
    if execution is None or ended is None:
        return None
    close_time = description.close_time
    return Closed(
        status=ended,
        at=close_time.astimezone(UTC) if close_time else None,
        reason=f"the workflow ended {execution.name.lower()}",
    )


async def latest_checkpoint(
    handle: WorkflowHandle[object, SweepResult], trial_id: str, rung: int | None = None
) -> CheckpointInfo | None:
    """The newest checkpoint the sweep's journal tells of for a trial (at one rung, if given):
    what a retry of its training would resume from. None before the first one."""
    latest: CheckpointInfo | None = None
    after = 0
    while True:
        page = await handle.query(contract.EVENTS_QUERY, after, result_type=SweepEventPage)
        for event in page.events:
            saved = event.checkpoint
            if (
                event.type == "checkpoint.saved"
                and event.trial_id == trial_id
                and (rung is None or event.rung == rung)
                and saved is not None
                and (latest is None or saved.step >= latest.step)
            ):
                latest = saved
        if not page.events or page.events[-1].id + 1 >= page.next_id:
            return latest
        after = page.events[-1].id
