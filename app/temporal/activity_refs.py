"""Typed references to every activity a workflow calls: the name, the argument and the result.

Workflows pass these to ``workflow.execute_activity`` instead of a string name plus
``result_type``, so mypy checks the argument and infers the result, and a reader can follow a
call to its implementation (the function of the same name under ``workers/activities``). They
are declarations only: the orchestration worker runs on CPU boxes without the torch stack, so
workflows cannot import the training activities themselves. ``tests/unit/test_activity_refs.py``
holds every implementation to its reference's name and signature.
"""

from __future__ import annotations

from temporalio import activity

from app.domain import DatasetSnapshot, FineTuneInput, ProposeInput, SnapshotInput, TrialConfig
from app.domain.webhooks import (
    DeliverInput,
    DeliveryReport,
    FinishDeliveryInput,
    PrepareDeliveriesInput,
)
from app.domain.workflow_io import MirrorInput, TrialRunOutcome
from app.temporal import contract


def _declared_only(name: str) -> NotImplementedError:
    return NotImplementedError(f"{name} is a reference: a worker registers its implementation")


# Training queue (workers.activities.training_queue.TrainingActivities).


@activity.defn(name=contract.SNAPSHOT_DATASET)
def snapshot_dataset(inp: SnapshotInput) -> DatasetSnapshot:
    raise _declared_only(contract.SNAPSHOT_DATASET)


@activity.defn(name=contract.TRAIN_AND_EVALUATE)
def train_and_evaluate(inp: FineTuneInput) -> TrialRunOutcome:
    raise _declared_only(contract.TRAIN_AND_EVALUATE)


# Orchestration queue (workers.activities.search, .mirror, .webhooks).


@activity.defn(name=contract.PROPOSE_CONFIGS)
def propose_configs(inp: ProposeInput) -> list[TrialConfig]:
    raise _declared_only(contract.PROPOSE_CONFIGS)


@activity.defn(name=contract.MIRROR_RESULTS)
def mirror_results(inp: MirrorInput) -> int:
    raise _declared_only(contract.MIRROR_RESULTS)


@activity.defn(name=contract.WEBHOOK_SUBSCRIPTIONS)
async def webhook_subscriptions(sweep_id: str) -> list[str]:
    raise _declared_only(contract.WEBHOOK_SUBSCRIPTIONS)


@activity.defn(name=contract.PREPARE_WEBHOOK_DELIVERIES)
async def prepare_webhook_deliveries(inp: PrepareDeliveriesInput) -> list[str]:
    raise _declared_only(contract.PREPARE_WEBHOOK_DELIVERIES)


@activity.defn(name=contract.DELIVER_WEBHOOK)
async def deliver_webhook(inp: DeliverInput) -> DeliveryReport:
    raise _declared_only(contract.DELIVER_WEBHOOK)


@activity.defn(name=contract.FINISH_WEBHOOK_DELIVERY)
async def finish_webhook_delivery(inp: FinishDeliveryInput) -> None:
    raise _declared_only(contract.FINISH_WEBHOOK_DELIVERY)


ALL_REFERENCES = (
    snapshot_dataset,
    train_and_evaluate,
    propose_configs,
    mirror_results,
    webhook_subscriptions,
    prepare_webhook_deliveries,
    deliver_webhook,
    finish_webhook_delivery,
)
