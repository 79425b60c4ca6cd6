"""Starting sweep workflows and following their progress: used by the CLI and the API."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy

from app.domain import SweepRequest, SweepResult, SweepStatus
from app.domain.jobs import SweepWorkflowInput
from app.settings import Settings
from app.temporal import contract


def workflow_name_for(request: SweepRequest) -> str:
    return (
        contract.SWEEP_WORKFLOW if request.strategy == "random" else contract.LADDER_SWEEP_WORKFLOW
    )


def new_sweep_id(request: SweepRequest) -> str:
    return f"{request.name}-{uuid.uuid4().hex[:8]}"


async def start_sweep(
    client: Client, request: SweepRequest, settings: Settings, sweep_id: str | None = None
) -> WorkflowHandle[object, SweepResult]:
    """Start the sweep workflow for a validated request; returns its handle."""
    sweep_id = sweep_id or new_sweep_id(request)
    handle: WorkflowHandle[object, SweepResult] = await client.start_workflow(
        workflow_name_for(request),
        SweepWorkflowInput(
            request=request,
            artifact_root=str(settings.artifacts),
            snapshot_root=str(settings.snapshot_root),
        ),
        id=sweep_id,
        task_queue=contract.ORCHESTRATION_TASK_QUEUE,
        result_type=SweepResult,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    return handle


_ACTIVE = (SweepStatus.RUNNING, SweepStatus.PAUSED)


async def follow(
    handle: WorkflowHandle[object, SweepResult],
    on_progress: Callable[[SweepResult], None],
    interval: float = 2.0,
) -> SweepResult:
    """Query progress every ``interval`` seconds until the workflow ends; return its result."""
    result_task = asyncio.ensure_future(handle.result())
    try:
        while not result_task.done():
            # A query can fail while a worker restarts; the next one will answer.
            with contextlib.suppress(Exception):
                on_progress(await handle.query(contract.PROGRESS_QUERY, result_type=SweepResult))
            await asyncio.wait({result_task}, timeout=interval)
        result = await result_task
    finally:
        result_task.cancel()
    on_progress(result)
    return result
