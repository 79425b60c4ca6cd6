"""The ladder (successive halving) sweep engine shared by LadderSweepWorkflow and
SweepWorkflow, one job a module:

- ``state``: the run's state and the reads every part shares;
- ``mirror``: batched writes to the results index;
- ``notifications``: trial changes fanned out to the index, the journal and webhooks;
- ``control``: queries, signals and control updates;
- ``proposals``: which trials enter a rung, and their configurations (waves);
- ``trial_runs``: each (trial, rung) run as one ``train_and_evaluate`` activity;
- ``lifecycle``: snapshot, the rung loop, continue-as-new and the end of a run.

Each part is a class over the one below it; the workflow classes (``workers.workflows.sweep``)
combine the control surface with the lifecycle.
"""

from __future__ import annotations

from workers.workflows.engine.control import ControlSurface
from workers.workflows.engine.lifecycle import Lifecycle


class SweepEngine(ControlSurface, Lifecycle):
    """Base class of the sweep workflows: their handlers and their run."""


__all__ = ["SweepEngine"]
