"""Recorded sweep histories must replay against today's workflow code: a change that breaks
determinism for sweeps already running fails here, before it reaches a deployment.

Re-record (only on purpose, after a compatible change) with:
    RECORD_HISTORIES=1 uv run pytest tests/workflows/test_sweep_workflows.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workers.workflows import ALL_WORKFLOWS

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    assert HISTORIES, "no recorded histories under tests/histories"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
