"""Fault drill: `kill -9` the training worker in the middle of a trial, start it again.

The trial resumes from its latest checkpoint (the work redone is at most one checkpoint
interval) and ends with exactly the metrics of an uninterrupted run with the same seed."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain import CheckpointInfo
from app.embedded import EmbeddedStack, free_port
from app.settings import Settings
from app.temporal import contract
from app.temporal.client import connect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHECKPOINT_EVERY = 20
SWEEP: dict[str, Any] = {
    "name": "fault-drill",
    "model": {"source": "tiny-bert"},
    "dataset": {"source": "tweet-sentiment", "max_train_samples": 800, "max_eval_samples": 200},
    "space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True}},
    "training": {"max_length": 48, "checkpoint_every_steps": CHECKPOINT_EVERY},
    "ladder": {"unit": "steps", "trials": 1, "rungs": [{"budget": 200}]},
    "max_concurrency": 1,
    "seed": 11,
}


def run_sweep(
    stack: EmbeddedStack, kill: tuple[str, ...] = (), at_step: int = CHECKPOINT_EVERY
) -> dict[str, Any]:
    """Run SWEEP through the API; once a checkpoint at ``at_step`` is reported, SIGKILL the
    ``kill`` processes and start them again."""
    with httpx.Client(base_url=stack.api_url, timeout=30, headers=stack.auth_headers()) as api:
        created = api.post("/sweeps", json=SWEEP)
        assert created.status_code == 201, created.text
        sweep_id = created.json()["sweep_id"]
        if kill:
            seen = asyncio.run(wait_for_checkpoint(stack, sweep_id, at_step))
            assert seen.step >= at_step
            for name in kill:
                stack.kill(name)
            for name in kill:
                stack.restart(name)
        deadline = time.monotonic() + 240
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                view = api.get(f"/sweeps/{sweep_id}").json()
            except httpx.TransportError:  # the API is starting again
                view = {}
            if view.get("status") not in (None, "running", "paused"):
                break
            time.sleep(1)
        assert view.get("status") == "completed", view
        result: dict[str, Any] = api.get(f"/sweeps/{sweep_id}/result").json()
        return result


async def wait_for_checkpoint(stack: EmbeddedStack, sweep_id: str, step: int) -> CheckpointInfo:
    """The training workflow's latest reported checkpoint, once it reaches ``step``."""
    client = await connect(stack.child_settings(), wait_seconds=10)
    handle = client.get_workflow_handle(f"{sweep_id}.t0000.r0.0.train")
    deadline = asyncio.get_running_loop().time() + 120
    while asyncio.get_running_loop().time() < deadline:
        try:
            latest = await handle.query(
                contract.LATEST_CHECKPOINT_QUERY, result_type=CheckpointInfo | None
            )
        except Exception:
            latest = None
        if latest is not None and latest.step >= step:
            return latest
        await asyncio.sleep(0.1)
    raise AssertionError("no checkpoint was reported in time")


def test_killed_training_worker_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, training_heartbeat_timeout_seconds=10)
    stack = EmbeddedStack(
        settings, temporal_port=free_port(), ui_port=free_port(), api_port=free_port()
    )
    with stack:
        uninterrupted = run_sweep(stack)
        killed = run_sweep(stack, kill=("training",))
        log = (stack.log_dir / "training.log").read_text()

    a, b = uninterrupted["trials"][0], killed["trials"][0]
    assert a["params"] == b["params"]
    assert b["rungs"][0]["global_step"] == 200
    for metric in ("accuracy", "f1_macro", "eval_loss"):
        assert b["metrics"][metric] == pytest.approx(a["metrics"][metric], abs=1e-6), metric

    # The retry resumed from a checkpoint at or after the one seen before the kill, so at
    # most one checkpoint interval of work was done twice.
    sweep_id = re.escape(killed["sweep_id"])
    attempts = re.findall(rf"activity\.fine_tune\.start sweep_id={sweep_id} .*?attempt=(\d+)", log)
    resumed_at = re.findall(
        rf"(?<!activity\.)fine_tune\.start sweep_id={sweep_id} .*?resume_step=(\d+)", log
    )
    assert [int(n) for n in attempts] == [1, 2]
    assert int(resumed_at[0]) == 0 and int(resumed_at[1]) >= CHECKPOINT_EVERY


def test_killed_orchestration_worker_and_api_lose_nothing(tmp_path: Path) -> None:
    """Kill -9 the orchestration worker and the API mid-sweep: after they restart, the sweep
    completes, and no trial was lost or trained to completion twice."""
    settings = Settings(data_dir=tmp_path)
    stack = EmbeddedStack(
        settings, temporal_port=free_port(), ui_port=free_port(), api_port=free_port()
    )
    with stack:
        result = run_sweep(stack, kill=("orchestration", "api"))
        log = (stack.log_dir / "training.log").read_text()
    (trial,) = result["trials"]
    assert trial["status"] == "completed" and trial["rungs"][0]["global_step"] == 200
    sweep_id = re.escape(result["sweep_id"])
    assert len(re.findall(rf"(?<!activity\.)fine_tune\.done sweep_id={sweep_id} ", log)) == 1
