"""Fault-drill figures for the demo model: work redone after each `kill -9` of the training
worker, time from its restart to training resumed, checkpoint-now latency, and checkpoint
save time and size; written to the benchmark history.

    uv run python -m benchmarks.service.fault_drills [--kills 3] [--requests 3] [--seed 0]

One trial of the demo model (MiniLM-L6) trains on the embedded stack. After each checkpoint
the training worker is killed at a random moment of the next interval and started again.
The step reached at the kill and the step the retry resumed from are read from the worker's
log (one line per step, turned on for this run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from app.cli.embedded import EmbeddedStack, free_port
from app.domain import CheckpointInfo, SweepResult
from app.settings import Settings
from app.temporal.client import connect
from app.temporal.sweep_state import latest_checkpoint
from benchmarks.common.report import machine, prepend_section, today

INTERVAL = 10  # checkpoint every this many steps
HEARTBEAT_TIMEOUT = 10.0


def sweep(budget: int, seed: int) -> dict[str, Any]:
    return {
        "name": "fault-drill-figures",
        "model": {"source": "minilm-l6"},
        "dataset": {
            "source": "tweet-sentiment",
            "max_train_samples": 4000,
            "max_eval_samples": 200,
        },
        "space": {"learning_rate": {"type": "float", "low": 5e-5, "high": 1e-4, "log": True}},
        "training": {
            "per_device_train_batch_size": 16,
            "max_length": 64,
            "checkpoint_every_steps": INTERVAL,
            "keep_checkpoints": 3,
        },
        "ladder": {"unit": "steps", "trials": 1, "rungs": [{"budget": budget}]},
        "max_concurrency": 1,
        "seed": seed,
    }


class Watch:
    """Polls the sweep's journal for the trial's reported checkpoints, timing each."""

    def __init__(self, stack: EmbeddedStack, sweep_id: str, trial_id: str, rung: int) -> None:
        self.stack = stack
        self.sweep_id, self.trial_id, self.rung = sweep_id, trial_id, rung
        self.seen: list[tuple[float, CheckpointInfo]] = []

    async def until(self, accept: Any, timeout: float = 600) -> tuple[float, CheckpointInfo]:
        client = await connect(self.stack.child_settings(), wait_seconds=10)
        handle = client.get_workflow_handle(self.sweep_id, result_type=SweepResult)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                latest = await latest_checkpoint(handle, self.trial_id, self.rung)
            except Exception:
                latest = None
            now = time.monotonic()
            if latest is not None and (not self.seen or latest.step != self.seen[-1][1].step):
                self.seen.append((now, latest))
            if latest is not None and accept(latest):
                return now, latest
            await asyncio.sleep(0.1)
        raise SystemExit(f"{self.sweep_id} {self.trial_id}: timed out waiting for a checkpoint")

    def intervals(self) -> list[tuple[float, CheckpointInfo]]:
        return [(t, c) for t, c in self.seen if c.reason == "interval"]

    def interval_seconds(self) -> float:
        """Between the last two interval checkpoints (the caller makes sure that both are
        of the current attempt)."""
        (t0, _), (t1, _) = self.intervals()[-2:]
        return t1 - t0


def last_step(log: Path, sweep_id: str) -> int:
    """The last optimizer step the (now killed) worker logged for the sweep."""
    pattern = rf"train\.step sweep_id={re.escape(sweep_id)} .*?step=(\d+)"
    return int(re.findall(pattern, log.read_text())[-1])


def starts(log: Path, sweep_id: str) -> list[int]:
    """resume_step of each fine_tune attempt of the sweep's trial, in order."""
    pattern = (
        rf"(?<!activity\.)fine_tune\.start sweep_id={re.escape(sweep_id)} .*?resume_step=(\d+)"
    )
    return [int(s) for s in re.findall(pattern, log.read_text())]


def wait_for_line(log: Path, text: str, count: int, timeout: float = 300) -> float:
    """When ``text`` appears in the log for the count-th time (polled every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text().count(text) >= count:
            return time.monotonic()
        time.sleep(0.1)
    raise SystemExit(f"{text!r} did not appear {count} times in {log}")


def wait_for_start(log: Path, sweep_id: str, count: int, timeout: float = 300) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = starts(log, sweep_id)
        if len(found) >= count:
            return found[count - 1]
        time.sleep(0.1)
    raise SystemExit("the retried attempt did not start")


def drill(stack: EmbeddedStack, kills: int, requests: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    budget = 2 * INTERVAL * (kills + 1) + 10 * requests + 10
    api = httpx.Client(base_url=stack.api_url, timeout=30, headers=stack.auth_headers())
    created = api.post("/sweeps", json=sweep(budget, seed))
    created.raise_for_status()
    sweep_id = created.json()["sweep_id"]
    watch = Watch(stack, sweep_id, "t0000", 0)
    log = stack.log_dir / "training.log"
    kill_rows = []
    for k in range(kills):
        # Two new interval checkpoints (of this attempt) time an interval; the kill comes at
        # a random moment of the next one.
        seen = len(watch.intervals())
        _, ckpt = asyncio.run(watch.until(lambda c, n=seen: len(watch.intervals()) >= n + 2))
        time.sleep(rng.random() * watch.interval_seconds())
        stack.kill("training")
        reached = last_step(log, sweep_id)
        stack.restart("training")
        restarted = time.monotonic()
        ready = wait_for_line(log, "training worker started", k + 2) - restarted
        retried = wait_for_line(log, f"activity.fine_tune.start sweep_id={sweep_id}", k + 2)
        resume_step = wait_for_start(log, sweep_id, k + 2)
        resumed = time.monotonic()
        row = {
            "checkpoint": ckpt.step,
            "reached": reached,
            "resumed_from": resume_step,
            "redone": reached - resume_step,
            "restart_to_training": resumed - restarted,
            "restart_to_ready": ready,
            "restart_to_retry": retried - restarted,
        }
        kill_rows.append(row)
        print(f"kill {k + 1}: {row}", file=sys.stderr)

    latencies = []
    for _ in range(requests):
        asyncio.run(watch.until(lambda c: c.step > 0))
        time.sleep(2)
        asked = time.monotonic()
        api.post(f"/sweeps/{sweep_id}/checkpoint", json={}).raise_for_status()
        before = len([c for _, c in watch.seen if c.reason == "requested"])
        done, _ = asyncio.run(
            watch.until(lambda c, n=before: c.reason == "requested" and len(requested(watch)) > n)
        )
        latencies.append(done - asked)
        print(f"checkpoint-now: {done - asked:.2f} s", file=sys.stderr)

    deadline = time.monotonic() + 900
    while api.get(f"/sweeps/{sweep_id}").json()["status"] in ("running", "paused"):
        if time.monotonic() > deadline:
            raise SystemExit("the sweep did not end")
        time.sleep(1)
    trial = api.get(f"/sweeps/{sweep_id}/result").json()["trials"][0]
    saves = re.findall(
        rf"checkpoint\.saved sweep_id={re.escape(sweep_id)} .*?save_seconds=([\d.]+) size_mb=([\d.]+)",
        log.read_text(),
    )
    return {
        "kills": kill_rows,
        "latencies": latencies,
        "saves": [(float(s), float(m)) for s, m in saves],
        "status": trial["status"],
        "global_step": trial["rungs"][0]["global_step"] if trial["rungs"] else None,
        "budget": budget,
    }


def requested(watch: Watch) -> list[CheckpointInfo]:
    return [c for _, c in watch.seen if c.reason == "requested"]


def median_range(values: list[float], unit: str, digits: int = 1) -> str:
    return (
        f"median {statistics.median(values):.{digits}f} {unit} "
        f"(range {min(values):.{digits}f}-{max(values):.{digits}f}, n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # One log line per optimizer step from the training worker: the step a kill interrupted.
    os.environ["SWEEPS_LOG_LEVEL"] = "INFO,workers.ml.steps=DEBUG"
    with tempfile.TemporaryDirectory() as state:
        settings = Settings(
            data_dir=Path(state), training_heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT
        )
        stack = EmbeddedStack(
            settings, temporal_port=free_port(), ui_port=free_port(), api_port=free_port()
        )
        with stack:
            figures = drill(stack, args.kills, args.requests, args.seed)

    kills = figures["kills"]
    saves = figures["saves"]
    command = (
        f"uv run python -m benchmarks.service.fault_drills --kills {args.kills} "
        f"--requests {args.requests} --seed {args.seed}"
    )
    lines = [
        f"## Fault drills: kill -9 of the training worker, checkpoint-now ({today()})",
        "",
        f"Command: `{command}` (also part of `make faults`). Machine: {machine()}.",
        "",
        f"One trial of the demo model (MiniLM-L6, batch 16, 64 tokens), a checkpoint every "
        f"{INTERVAL} steps, heartbeat timeout {HEARTBEAT_TIMEOUT:.0f} s (the default is 45 s). "
        f"The trial ended `{figures['status']}` at step {figures['global_step']} of "
        f"{figures['budget']}.",
        "",
        "| kill | last checkpoint seen | step reached | resumed from | steps redone | "
        "restart to worker ready | to attempt retried | to training resumed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, row in enumerate(kills, 1):
        lines.append(
            f"| {n} | {row['checkpoint']} | {row['reached']} | {row['resumed_from']} | "
            f"{row['redone']} | {row['restart_to_ready']:.1f} s | "
            f"{row['restart_to_retry']:.1f} s | {row['restart_to_training']:.1f} s |"
        )
    lines += [
        "",
        f"- Steps redone per kill: {median_range([r['redone'] for r in kills], 'steps')}; "
        f"the bound is one checkpoint interval ({INTERVAL} steps).",
        "- Worker restart to training resumed: "
        f"{median_range([r['restart_to_training'] for r in kills], 's')}. It adds the worker's "
        "start (Python, torch), the server noticing the lost attempt (heartbeat timeout after "
        "the last heartbeat that reached it), and the retry loading the model and data and "
        "restoring the checkpoint.",
    ]
    if figures["latencies"]:
        lines.append(
            "- Checkpoint-now, request to checkpoint reported: "
            f"{median_range(figures['latencies'], 's', 2)} (the promise: 5 s or the next step)."
        )
    if saves:
        lines.append(
            "- Checkpoint save (weights, optimizer and scheduler state, RNG): "
            f"{median_range([s for s, _ in saves], 's', 2)}; "
            f"size {statistics.median([m for _, m in saves]):.1f} MB."
        )
    lines.append(
        "- The step reached is the killed worker's last `train.step` log line; the resume step "
        "is the one the retry logged."
    )
    prepend_section("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
