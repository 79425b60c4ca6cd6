"""Deterministic Temporal workflows. They never import the torch stack: activities are
called through typed references (app.temporal.activity_refs)."""

from workers.workflows.sweep import LadderSweepWorkflow, SweepWorkflow
from workers.workflows.webhook_dispatch import WebhookDispatchWorkflow

ALL_WORKFLOWS = [LadderSweepWorkflow, SweepWorkflow, WebhookDispatchWorkflow]

__all__ = ["ALL_WORKFLOWS", "LadderSweepWorkflow", "SweepWorkflow", "WebhookDispatchWorkflow"]
