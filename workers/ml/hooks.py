"""How the training loop talks to whoever runs it (a Temporal activity, a test, a CLI).

Plain callables, so the ML layer never imports temporalio: the activity adapter turns them
into heartbeats, signals and queries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from app.domain import CheckpointInfo, TrialControl

# Mirrors app.temporal.contract.CONTROL_POLL_SECONDS (not imported: that module pulls in
# temporalio). The activity adapter passes the contract's value explicitly.
DEFAULT_CONTROL_POLL_SECONDS = 3.0
DEFAULT_HEARTBEAT_SECONDS = 5.0

# What an interruption asks for: stop with a checkpoint, as paused or as cancelled.
StopRequest = Literal["pause", "cancel"]


@dataclass(frozen=True)
class TrainingProgress:
    """What a heartbeat says: where training is and the newest complete checkpoint."""

    step: int
    target_step: int
    max_steps: int
    epoch: float
    checkpoint: CheckpointInfo | None


def _ignore(_: object) -> None:
    return None


def _no_requests() -> TrialControl:
    return TrialControl()


def _uninterrupted() -> StopRequest | None:
    return None


@dataclass(frozen=True)
class TrainingHooks:
    """Callbacks from the training loop. Every one is optional.

    ``on_checkpoint`` runs after each complete save; ``heartbeat`` at most every
    ``heartbeat_seconds`` and after each checkpoint; ``poll_control`` at most every
    ``control_poll_seconds`` (it may be a network call, so it is time-based, not per step);
    ``interrupt`` every step (it must be cheap, like reading a flag): a non-None answer
    saves a checkpoint and stops (cancellation, worker shutdown).
    """

    on_checkpoint: Callable[[CheckpointInfo], None] = _ignore
    heartbeat: Callable[[TrainingProgress], None] = _ignore
    poll_control: Callable[[], TrialControl] = _no_requests
    interrupt: Callable[[], StopRequest | None] = _uninterrupted
    control_poll_seconds: float = DEFAULT_CONTROL_POLL_SECONDS
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    clock: Callable[[], float] = time.monotonic
