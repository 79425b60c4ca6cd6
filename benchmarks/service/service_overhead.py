"""The cost of running a trial through the service: one trial's training through the
fine-tune activity on a real Temporal worker, against the same Trainer run as a bare script.

    uv run python -m benchmarks.service.service_overhead [--quick] [--runs N] [--steps N]

Each run is a fresh process (``benchmarks.service.trial_process``), the variants interleaved
(service, bare, service, bare ...). The Temporal dev server (in memory) and the
orchestration-side worker, which runs the real training workflow and a stand-in for the
sweep that answers the activity's control queries, live in this process and the server's,
started once, as in a deployment where they are already up when a trial starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from app.domain import (
    DatasetSnapshot,
    DatasetSpec,
    ModelSpec,
    Objective,
    TrainingParams,
    TrialConfig,
    TrialJob,
)
from app.embedded import free_port, port_is_open, temporal_cli
from app.temporal import contract
from benchmarks.common.report import machine, prepend_section, today
from benchmarks.common.spread import interleaved, median_ratio, spread
from benchmarks.service.sweep_stand_in import FINISH_SIGNAL, SweepStandIn
from workers.workflows.training import CheckpointedBertTrainingWorkflow

VARIANTS = ("service", "bare")
TRIAL_SEED = 1234


@dataclass(frozen=True)
class Size:
    model: str
    steps: int
    save_every: int
    runs: int
    batch: int = 16
    max_length: int = 64
    train_rows: int = 2000


FULL = Size(model="minilm-l6", steps=80, save_every=20, runs=3)
QUICK = Size(model="tiny-bert", steps=20, save_every=10, runs=1)


@dataclass(frozen=True)
class Measured:
    variant: str
    wall_seconds: float  # the whole process, interpreter start to exit
    peak_rss_mib: float  # the child's own peak (wait4's ru_maxrss)
    result: dict[str, Any]


def make_job(size: Size, snapshot: DatasetSnapshot, root: Path, run: int) -> TrialJob:
    """The trial both variants train; a fresh artifact directory per run (nothing to resume)."""
    return TrialJob(
        sweep_id=f"overhead-{run}",
        sweep_workflow_id=f"overhead-{run}",
        trial=TrialConfig(trial_index=0, params={}, seed=TRIAL_SEED),
        rung=0,
        budget=size.steps,
        max_budget=size.steps,
        unit="steps",
        model=ModelSpec(source=size.model),
        training=TrainingParams(
            learning_rate=1e-4,
            per_device_train_batch_size=size.batch,
            max_length=size.max_length,
            checkpoint_every_steps=size.save_every,
        ),
        snapshot=snapshot,
        objective=Objective(),
        artifact_root=str(root / "artifacts" / str(run)),
    )


def run_child(argv: list[str], log: Path) -> tuple[float, int, int]:
    """(wall seconds, peak RSS KiB, exit code) of one child process; wait4 gives the
    child's own resource usage, not the running maximum over all children."""
    started = time.monotonic()
    with log.open("wb") as out:
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss, child.returncode


async def measure(
    client: Client, address: str, variant: str, job: TrialJob, root: Path
) -> Measured:
    job_file = root / f"{job.sweep_id}.job.json"
    result_file = root / f"{job.sweep_id}.result.json"
    job_file.write_text(job.model_dump_json())
    argv = [sys.executable, "-m", "benchmarks.service.trial_process", variant, str(job_file)]
    argv += [str(result_file), "--address", address]
    stand_in = None
    if variant == "service":
        stand_in = await client.start_workflow(
            SweepStandIn.run, id=job.sweep_workflow_id, task_queue=contract.ORCHESTRATION_TASK_QUEUE
        )
    log = root / f"{job.sweep_id}.{variant}.log"
    wall, peak_kib, code = await asyncio.to_thread(run_child, argv, log)
    if code != 0:
        sys.exit(f"{variant} run failed ({code}):\n{log.read_text()[-3000:]}")
    result = json.loads(result_file.read_text())
    if stand_in is not None:
        await stand_in.signal(FINISH_SIGNAL)
        result["checkpoints_reported"] = await stand_in.result()
    return Measured(variant, wall, peak_kib / 1024, result)


def start_server(port: int, data: Path) -> subprocess.Popen[bytes]:
    argv = [
        temporal_cli(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
        "--ui-port", str(free_port()), "--headless", "--log-level", "error",
    ]  # fmt: skip
    server = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=(data / "temporal.log").open("wb")
    )
    deadline = time.monotonic() + 60
    while not port_is_open("127.0.0.1", port):
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit("the Temporal dev server did not start")
        time.sleep(0.2)
    return server


def snapshot_for(size: Size, root: Path) -> DatasetSnapshot:
    from workers.ml.snapshot import create_snapshot

    spec = DatasetSpec(
        source="tweet-sentiment", max_train_samples=size.train_rows, max_eval_samples=100
    )
    return create_snapshot(spec, str(root / "snapshots"))


async def run_all(size: Size, root: Path) -> list[Measured]:
    snapshot = snapshot_for(size, root)
    port = free_port()
    server = start_server(port, root)
    address = f"127.0.0.1:{port}"
    try:
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        worker = Worker(
            client,
            task_queue=contract.ORCHESTRATION_TASK_QUEUE,
            workflows=[CheckpointedBertTrainingWorkflow, SweepStandIn],
        )
        measured = []
        async with worker:
            for run, variant in enumerate(interleaved(VARIANTS, size.runs)):
                job = make_job(size, snapshot, root, run)
                one = await measure(client, address, variant, job, root)
                measured.append(one)
                print(
                    f"run {run} {variant}: process {one.wall_seconds:.1f} s, trial span "
                    f"{one.result['span_seconds']:.1f} s, train() {one.result['train_seconds']:.1f}"
                    f" s, peak RSS {one.peak_rss_mib:.0f} MiB, step {one.result['global_step']}",
                    file=sys.stderr,
                    flush=True,
                )
        return measured
    finally:
        server.terminate()
        server.wait(timeout=30)


def by_variant(measured: list[Measured], variant: str, field: str) -> list[float]:
    picked = [m for m in measured if m.variant == variant]
    if field == "wall":
        return [m.wall_seconds for m in picked]
    if field == "rss":
        return [m.peak_rss_mib for m in picked]
    return [float(m.result[field]) for m in picked]


def section(size: Size, command: str, measured: list[Measured]) -> str:
    def row(label: str, field: str, unit: str, digits: int = 1) -> str:
        s, b = by_variant(measured, "service", field), by_variant(measured, "bare", field)
        return (
            f"| {label} | {spread(s).describe(unit, digits)} | {spread(b).describe(unit, digits)} "
            f"| {median_ratio(s, b):.3f} |"
        )

    service = [m for m in measured if m.variant == "service"]
    reported = sorted({m.result.get("checkpoints_reported", 0) for m in service})
    checkpoints = sorted({len(m.result["checkpoints"]) for m in measured if m.variant == "bare"})
    span_ratio = median_ratio(
        by_variant(measured, "service", "span_seconds"),
        by_variant(measured, "bare", "span_seconds"),
    )
    verdict = "within" if span_ratio <= 1.05 else "over"
    lines = [
        f"## Cost of running a trial through the service ({today()})",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}; shared with other jobs while it ran (runs interleaved "
        "service, bare, service, bare ... so the noise hits both)",
        f"- trial: {size.model}, {size.steps} steps, batch {size.batch}, max length "
        f"{size.max_length}, checkpoint every {size.save_every} steps, {size.train_rows} "
        f"training tweets; {size.runs} runs of each variant, each a fresh process",
        "- service: a training-worker process (the product's worker options and activities) "
        "runs the real training workflow's fine-tune activity, with heartbeats to the server, "
        "control queries to a stand-in sweep workflow every "
        f"{contract.CONTROL_POLL_SECONDS:g} s, checkpoint markers, pruning and reports "
        f"(reported per run: {reported}); the dev server and the workflow worker were already "
        "running. bare: the same TrainingArguments, model, tokenised data and seed in a plain "
        f"`Trainer.train()` (checkpoints per run: {checkpoints}).",
        "- trial span: service, from starting the training workflow to its result (workflow "
        "and activity dispatch, reading the snapshot, model load, tokenising, training, "
        "checkpoint saves, the last reports); bare, from reading the snapshot to `train()` "
        "returning (same steps). Neither includes interpreter start and imports; the process "
        "wall time does (and, for the service, connecting, starting and stopping the worker).",
        f"- trial span ratio service/bare (medians): **{span_ratio:.3f}** ({verdict} the "
        "1.05 goal)",
        "",
        "| figure (median, range) | service | bare script | ratio |",
        "|---|---:|---:|---:|",
        row("trial span", "span_seconds", " s"),
        row("`train()` alone", "train_seconds", " s"),
        row("process wall time", "wall", " s"),
        row("peak RSS", "rss", " MiB", 0),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny BERT, 20 steps, one run each")
    parser.add_argument("--runs", type=int, help="runs of each variant")
    parser.add_argument("--steps", type=int, help="training steps of the trial")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    if args.runs:
        size = Size(**{**size.__dict__, "runs": args.runs})
    if args.steps:
        size = Size(**{**size.__dict__, "steps": args.steps})
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        measured = asyncio.run(run_all(size, Path(tmp)))
    flags = [
        *(["--quick"] if args.quick else []),
        *([f"--runs {args.runs}"] if args.runs else []),
        *([f"--steps {args.steps}"] if args.steps else []),
    ]
    command = " ".join(["uv run python -m benchmarks.service.service_overhead", *flags])
    text = section(size, command, measured)
    prepend_section(text)
    print(text)


if __name__ == "__main__":
    main()
