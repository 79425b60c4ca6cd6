"""Deterministic Temporal workflows. They never import the torch stack: activities are
called by name (see app.temporal.contract)."""

from workers.workflows.coordinator import CoordinatorWorkflow
from workers.workflows.evaluation import BertEvalWorkflow
from workers.workflows.sweep import LadderSweepWorkflow, SweepWorkflow
from workers.workflows.training import CheckpointedBertTrainingWorkflow
from workers.workflows.webhook_dispatch import WebhookDispatchWorkflow

ALL_WORKFLOWS = [
    LadderSweepWorkflow,
    SweepWorkflow,
    CoordinatorWorkflow,
    CheckpointedBertTrainingWorkflow,
    BertEvalWorkflow,
    WebhookDispatchWorkflow,
]

__all__ = [
    "ALL_WORKFLOWS",
    "BertEvalWorkflow",
    "CheckpointedBertTrainingWorkflow",
    "CoordinatorWorkflow",
    "LadderSweepWorkflow",
    "SweepWorkflow",
    "WebhookDispatchWorkflow",
]
