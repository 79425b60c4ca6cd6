"""End to end: the real Temporal dev server, both real workers, a real tiny-BERT sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.domain import SweepResult, SweepStatus, TrialStatus
from tests.e2e.drills import free_ports

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_tiny_runs_a_real_sweep(tmp_path: Path) -> None:
    temporal_port, ui_port, api_port = free_ports(3)
    argv = [
        sys.executable,
        "-m",
        "app.cli",
        "demo",
        "--preset",
        "tiny",
        "--json",
        "--data-dir",
        str(tmp_path / "state"),
        "--temporal-port",
        str(temporal_port),
        "--ui-port",
        str(ui_port),
        "--api-port",
        str(api_port),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=480, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    result = SweepResult.model_validate(json.loads(done.stdout))

    assert result.status == SweepStatus.COMPLETED
    assert [len(r.trial_ids) for r in result.rungs] == [4, 2]
    assert result.rungs[0].survivors == result.rungs[1].trial_ids
    winner = result.best
    assert winner is not None and winner.status == TrialStatus.COMPLETED and winner.rung == 1
    assert winner.metrics is not None and winner.metrics.num_examples == 200
    assert 0.0 <= winner.metrics.accuracy <= 1.0
    # The promoted trial continued from its rung-0 checkpoint to the rung-1 budget.
    assert [r.global_step for r in winner.rungs] == [10, 30]
    assert winner.checkpoint is not None and Path(winner.checkpoint.path).is_dir()
    assert "rung 1" in done.stderr  # progress was printed while it ran
    # Authentication stays on: the demo made (and used) a token of its own.
    assert "authentication on" in done.stderr and "principal 'demo'" in done.stderr


def test_missing_dataset_fails_the_sweep_with_its_message(tmp_path: Path) -> None:
    """A dataset that does not exist fails its activity once, non-retryably, and the sweep
    ends failed with that message instead of retrying forever."""
    request = tmp_path / "sweep.yaml"
    missing = tmp_path / "no-such-tweets.csv"
    request.write_text(
        "name: missing-data\n"
        "model: {source: tiny-bert}\n"
        f"dataset: {{source: '{missing}'}}\n"
        "space: {learning_rate: {type: float, low: 1.0e-4, high: 1.0e-3, log: true}}\n"
        "ladder: {trials: 2, rungs: [{budget: 5}]}\n"
    )
    temporal_port, ui_port, api_port = free_ports(3)
    argv = [
        sys.executable, "-m", "app.cli", "demo", "--file", str(request), "--json",
        "--data-dir", str(tmp_path / "state"),
        "--temporal-port", str(temporal_port), "--ui-port", str(ui_port),
        "--api-port", str(api_port),
    ]  # fmt: skip
    # With authentication turned off, the demo says so plainly.
    env = {**os.environ, "SWEEPS_AUTH_ENABLED": "false"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=env)
    assert done.returncode == 1, done.stderr[-4000:]
    assert "authentication is OFF" in done.stderr
    result = SweepResult.model_validate(json.loads(done.stdout))
    assert result.status == SweepStatus.FAILED
    assert result.error is not None and "no-such-tweets.csv" in result.error
    assert result.trials == []  # nothing was proposed or trained
