"""Helpers shared by the ML tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.domain import CheckpointInfo, TrainOutcome, TrialControl, TrialJob, TrialMetrics

MAX_STEPS = 30  # the ladder top: 200 rows / batch 8 = 25 steps per epoch, so it crosses one
TRIAL_SEED = 1234

# make_job(artifact_root, *, budget=..., rung=..., resume_from=..., model=..., **training)
JobFactory = Callable[..., TrialJob]
Evaluate = Callable[[CheckpointInfo], TrialMetrics]


@dataclass(frozen=True)
class Reference:
    """An uninterrupted run straight to MAX_STEPS: what every resumed run must equal."""

    outcome: TrainOutcome
    metrics: TrialMetrics
    output_dir: Path
    reported: list[CheckpointInfo]


def assert_same_metrics(a: TrialMetrics, b: TrialMetrics) -> None:
    assert a.num_examples == b.num_examples
    assert a.accuracy == pytest.approx(b.accuracy, abs=1e-6)
    assert a.f1_macro == pytest.approx(b.f1_macro, abs=1e-6)
    assert a.eval_loss == pytest.approx(b.eval_loss, abs=1e-6)


class ScriptedControl:
    """A ``poll_control`` hook answering from a script: {call number: TrialControl}.

    With ``control_poll_seconds=0`` call 1 is the poll before training and call n + 1
    follows optimizer step n. ``crash_after_step`` raises there, like a worker dying.
    """

    def __init__(
        self, script: dict[int, TrialControl] | None = None, crash_after_step: int | None = None
    ) -> None:
        self.script = script or {}
        self.crash_after_step = crash_after_step
        self.calls = 0
        self.current = TrialControl()

    def __call__(self) -> TrialControl:
        self.calls += 1
        step = self.calls - 1
        if self.crash_after_step is not None and step >= self.crash_after_step:
            raise SimulatedCrash(f"worker died after step {step}")
        self.current = self.script.get(self.calls, self.current)
        return self.current


class SimulatedCrash(RuntimeError):
    pass


class FakeWorkflowHandle:
    def __init__(self, client: FakeClient, workflow_id: str) -> None:
        self.client = client
        self.workflow_id = workflow_id

    async def signal(self, name: str, arg: Any) -> None:
        self.client.signals.append((self.workflow_id, name, arg))

    async def query(self, name: str, arg: Any, *, result_type: Any = None) -> Any:
        self.client.queries.append((self.workflow_id, name, arg))
        if self.client.query_error is not None:
            raise self.client.query_error
        if self.client.query_hangs:
            await asyncio.sleep(3600)
        return self.client.control


class FakeClient:
    """Records signals and queries the training activity sends through the worker's client."""

    def __init__(self) -> None:
        self.signals: list[tuple[str, str, Any]] = []
        self.queries: list[tuple[str, str, Any]] = []
        self.control = TrialControl()
        self.query_error: Exception | None = None
        self.query_hangs = False  # like a query to a sweep whose workflow worker is down

    def get_workflow_handle(self, workflow_id: str) -> FakeWorkflowHandle:
        return FakeWorkflowHandle(self, workflow_id)
