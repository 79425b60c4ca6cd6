"""Telling the world: each trial change goes to the index, the journal and webhooks.

Webhook deliveries start as detached dispatch workflows (see webhook_events) without the sweep
waiting for them; the run only awaits their starts before it ends.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from app.domain import SweepStatus
    from app.domain.results import FINAL_TRIAL_STATUSES
    from app.domain.webhooks import WebhookEvent
    from app.temporal import activity_refs, contract

from workers.workflows import journal, webhook_events
from workers.workflows.engine.mirror import MirrorWrites
from workers.workflows.failures import root_message


class Notifications(MirrorWrites):
    def _update_trial(self, index: int, **changes: object) -> None:
        """Change one trial and tell the index, the journal and (when it ends) webhooks."""
        state = self._state
        before = state.trials[index]
        after = state.trials[index] = before.model_copy(update=changes)
        self._changed(index)
        entry = journal.trial_event(before, after, self._request.ladder)
        if entry is not None:
            self._emit(**entry)
        if (
            after.status in FINAL_TRIAL_STATUSES
            and before.status not in FINAL_TRIAL_STATUSES
            and self._status == SweepStatus.RUNNING  # the sweep's own event covers its end
            and not self._cancelling
            and self._wants("trial.completed")
        ):
            self._notify(
                webhook_events.trial_event(self._sweep_id, self._request, after),
                f"trial:{after.trial_id}",
            )

    async def _webhook_subscriptions(self) -> None:
        """Once per sweep: does any endpoint want trial.completed / rung.completed? (The
        sweep's end is always dispatched; the dispatch finds who wants it.)"""
        state = self._state
        if state.webhook_progress_events is not None:
            return
        try:
            state.webhook_progress_events = await workflow.execute_activity(
                activity_refs.webhook_subscriptions,
                self._sweep_id,
                task_queue=self._light_queue,
                start_to_close_timeout=contract.WEBHOOK_BOOKKEEPING_TIMEOUT,
                schedule_to_close_timeout=contract.WEBHOOK_SUBSCRIPTIONS_GIVE_UP,
                retry_policy=contract.MIRROR_RETRY,
            )
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):  # the sweep is being cancelled
                raise
            # Progress events are a nicety: the sweep goes on without them.
            workflow.logger.warning(
                "webhook subscriptions unknown: %s",
                root_message(err),
                extra={"sweep_id": self._sweep_id},
            )
            state.webhook_progress_events = []

    def _wants(self, event_type: str) -> bool:
        return event_type in (self._state.webhook_progress_events or ())

    def _notify(self, event: WebhookEvent, event_key: str) -> None:
        """Start the event's delivery without waiting for it."""
        self._notifying.append(
            asyncio.create_task(
                webhook_events.start_dispatch(
                    self._sweep_id, event, event_key, self._webhook_retry, self._light_queue
                )
            )
        )

    async def _notified(self) -> None:
        """Every delivery this run started has been handed to its dispatch workflow."""
        for task in self._notifying:
            await task
