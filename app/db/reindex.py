"""Rebuilding the results index from Temporal, the source of truth (after the index
database was lost or a mirror write gave up)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from app.db import delete_sweep, mirror_sweep, session_scope
from app.db.access import claim_sweep
from app.domain import SweepRequest, SweepResult
from app.temporal import contract
from app.temporal.sweep_state import sweep_state


async def sweep_ids(client: Client) -> list[str]:
    """Every sweep Temporal knows, newest first (continue-as-new chains counted once)."""
    types = " OR ".join(f"WorkflowType = '{name}'" for name in contract.SWEEP_WORKFLOW_TYPES)
    seen: dict[str, None] = {}
    async for execution in client.list_workflows(types):
        seen.setdefault(execution.id, None)
    return list(seen)


async def owner_in_memo(client: Client, sweep_id: str) -> str | None:
    """The principal that made the sweep, from its workflow memo (None: made before sweeps
    had owners; only admins see it)."""
    description = await client.get_workflow_handle(sweep_id).describe()
    owner = await description.memo_value(contract.OWNER_MEMO, default=None)
    return owner if isinstance(owner, str) else None


async def reindex(
    client: Client,
    engine: Engine,
    only: str | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> list[str]:
    """Replace each sweep's rows with its state as its workflow reports it; returns the ids.

    A sweep still running is re-mirrored as it stands now; its own mirror writes continue.
    """
    ids = [only] if only else await sweep_ids(client)
    done = []
    for sweep_id in ids:
        handle = client.get_workflow_handle(sweep_id, result_type=SweepResult)
        try:
            result = await sweep_state(handle)
            request = await handle.query(contract.REQUEST_QUERY, result_type=SweepRequest)
        except WorkflowQueryFailedError:
            continue  # started but never ran a workflow task: nothing to index yet
        except RPCError as exc:
            if exc.status == RPCStatusCode.FAILED_PRECONDITION:
                continue  # closed (terminated) before any worker ran it: nothing to index
            raise
        owner = await owner_in_memo(client, sweep_id)
        with session_scope(engine) as session:
            if owner is not None:
                claim_sweep(session, sweep_id, owner)  # kept if the row survived
            delete_sweep(session, sweep_id)
            mirror_sweep(
                session, result, request, result_count=sum(len(t.rungs) for t in result.trials)
            )
        done.append(sweep_id)
        if progress is not None:
            progress(sweep_id, len(result.trials))
    return done
