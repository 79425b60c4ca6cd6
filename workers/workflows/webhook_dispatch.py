"""WebhookDispatchWorkflow: one event, fanned out to every endpoint that wants it.

Started by a sweep as a detached child (ParentClosePolicy.ABANDON): the sweep's result is
final as soon as it ends, while a slow or failing receiver is retried here for up to three
days. Each delivery is one activity with Temporal's retry policy, so retries survive worker
and server restarts, and every attempt carries the same webhook-id.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from app.domain.webhooks import (
        DeliverInput,
        DeliveryReport,
        FinishDeliveryInput,
        PrepareDeliveriesInput,
        WebhookDispatchInput,
        WebhookRetrySchedule,
    )
    from app.temporal import activity_refs, contract

from workers.workflows.failures import root_message


@workflow.defn(name=contract.WEBHOOK_DISPATCH_WORKFLOW)
class WebhookDispatchWorkflow:
    @workflow.run
    async def run(self, inp: WebhookDispatchInput) -> list[DeliveryReport]:
        give_up = timedelta(seconds=inp.retry.give_up_seconds)
        delivery_ids = list(inp.delivery_ids)
        if inp.event is not None:
            delivery_ids += await workflow.execute_activity(
                activity_refs.prepare_webhook_deliveries,
                PrepareDeliveriesInput(
                    sweep_id=inp.sweep_id, event=inp.event, event_key=inp.event_key
                ),
                task_queue=workflow.info().task_queue,
                start_to_close_timeout=contract.WEBHOOK_BOOKKEEPING_TIMEOUT,
                schedule_to_close_timeout=give_up,
                retry_policy=contract.WEBHOOK_BOOKKEEPING_RETRY,
            )
        reports = await asyncio.gather(*(self._deliver(d, inp.retry) for d in delivery_ids))
        return list(reports)

    async def _deliver(self, delivery_id: str, schedule: WebhookRetrySchedule) -> DeliveryReport:
        try:
            report = await workflow.execute_activity(
                activity_refs.deliver_webhook,
                DeliverInput(delivery_id=delivery_id),
                task_queue=workflow.info().task_queue,
                start_to_close_timeout=contract.WEBHOOK_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=contract.webhook_give_up(schedule),
                retry_policy=contract.webhook_retry_policy(schedule),
            )
        except ActivityError as err:
            detail = f"gave up after retrying: {root_message(err)}"
            await workflow.execute_activity(
                activity_refs.finish_webhook_delivery,
                FinishDeliveryInput(delivery_id=delivery_id, error=detail),
                task_queue=workflow.info().task_queue,
                start_to_close_timeout=contract.WEBHOOK_BOOKKEEPING_TIMEOUT,
                schedule_to_close_timeout=contract.MIRROR_GIVE_UP,
                retry_policy=contract.WEBHOOK_BOOKKEEPING_RETRY,
            )
            return DeliveryReport(delivery_id=delivery_id, state="failed", detail=detail)
        return report
