"""Writes to the results index: the sweep marks what changed, one loop writes it in batches.

The index is a mirror for reads (the sweep never reads it back), so a write that keeps failing
is logged and dropped rather than failing the sweep: ``sweeps reindex`` rebuilds it.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from app.domain.workflow_io import MirrorInput
    from app.temporal import activity_refs, contract

from workers.workflows.engine.state import EngineState
from workers.workflows.failures import root_message


class MirrorWrites(EngineState):
    def _changed(self, trial_index: int | None = None) -> None:
        """Mark the sweep row (or one trial) for the next mirror write."""
        if trial_index is None:
            self._mirror_sweep = True
        else:
            self._mirror_trials.add(trial_index)
        if self._changed_since is None:
            self._changed_since = workflow.now()

    async def _mirror_loop(self) -> None:
        """Write changes one activity at a time, batching whatever changed meanwhile (a busy
        sweep writes about once per MIRROR_COALESCE); returns once the sweep is closing and
        everything is written."""
        while True:
            await workflow.wait_condition(
                lambda: bool(self._mirror_trials) or self._mirror_sweep or self._closing
            )
            if not self._mirror_trials and not self._mirror_sweep:
                return
            batch = sorted(self._mirror_trials)
            since, self._changed_since = self._changed_since, None
            self._mirror_trials.clear()
            self._mirror_sweep = False
            await self._mirror(batch, since)
            busy = bool(self._mirror_trials) or self._mirror_sweep
            if busy and not self._closing:
                # Gather what else changes for a moment (the sweep closing ends the wait).
                with contextlib.suppress(asyncio.TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._closing, timeout=contract.MIRROR_COALESCE
                    )

    async def _mirror(self, trial_indices: list[int], changed_since: datetime | None) -> None:
        state = self._state
        changed = [state.trials[i] for i in trial_indices]
        try:
            await workflow.execute_activity(
                activity_refs.mirror_results,
                MirrorInput(
                    result=self._result().model_copy(update={"trials": changed}),
                    request=self._request,
                    result_count=sum(len(t.rungs) for t in state.trials.values()),
                    changed_since=changed_since,
                ),
                task_queue=self._light_queue,
                start_to_close_timeout=contract.MIRROR_TIMEOUT,
                schedule_to_close_timeout=contract.MIRROR_GIVE_UP,
                retry_policy=contract.MIRROR_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning(
                "results index not updated: %s",
                root_message(err),
                extra={"sweep_id": self._sweep_id},
            )
