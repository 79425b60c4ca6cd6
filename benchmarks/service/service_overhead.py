"""The cost of running a trial through the service: one trial as the product runs it (a
one-trial sweep whose run is the train_and_evaluate activity on a real training worker),
against the same Trainer trained and evaluated by a bare script.

    uv run python -m benchmarks.service.service_overhead [--quick] [--runs N] [--steps N]

Each run is a fresh process (``benchmarks.service.trial_process``), the variants interleaved
(service, bare, service, bare ...). An embedded stack (the Temporal dev server on its SQLite
file, the orchestration worker with the results index; no API) is started once, as in a
deployment where it is already up when a sweep is submitted; the training worker is the
measured process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.cli.embedded import EmbeddedStack, free_port
from app.domain import (
    DatasetSnapshot,
    DatasetSpec,
    ModelSpec,
    SweepRequest,
    TrainingParams,
    TrialConfig,
    TrialJob,
    derive_seed,
)
from app.domain.request import Ladder, Rung
from app.domain.space import CategoricalParam, SweepSpace
from app.domain.workflow_io import SweepWorkflowInput
from app.settings import Settings
from app.temporal import contract
from benchmarks.common.report import Figure, machine, prepend_section, record_figures, today
from benchmarks.common.spread import interleaved, median_ratio, spread

VARIANTS = ("service", "bare")
SWEEP_SEED = 1234
LEARNING_RATE = 1e-4
GOAL = 1.05  # the trial span through the service, at most this times the bare script's
FIGURE = "Cost of one trial through the service (trial span, service / bare script)"


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


def dataset(size: Size) -> DatasetSpec:
    return DatasetSpec(
        source="tweet-sentiment", max_train_samples=size.train_rows, max_eval_samples=100
    )


def make_request(size: Size, run: int) -> SweepRequest:
    """One trial, one rung of ``size.steps``: the sweep's whole work is that one run. The
    space has one value, so the trial trains exactly what the bare script trains."""
    return SweepRequest(
        name=f"overhead-{run}",
        model=ModelSpec(source=size.model),
        dataset=dataset(size),
        space=SweepSpace({"learning_rate": CategoricalParam(choices=[LEARNING_RATE])}),
        training=TrainingParams(
            learning_rate=LEARNING_RATE,
            per_device_train_batch_size=size.batch,
            max_length=size.max_length,
            checkpoint_every_steps=size.save_every,
        ),
        ladder=Ladder(unit="steps", trials=1, rungs=[Rung(budget=size.steps)]),
        max_concurrency=1,
        seed=SWEEP_SEED,
    )


def sweep_input(request: SweepRequest, settings: Settings) -> SweepWorkflowInput:
    """What POST /sweeps hands the workflow (app.temporal.gateway)."""
    return SweepWorkflowInput(
        request=request,
        artifact_root=settings.artifacts,
        snapshot_root=settings.snapshot_root,
        training_heartbeat_timeout_seconds=settings.training_heartbeat_timeout_seconds,
    )


def bare_job(request: SweepRequest, snapshot: DatasetSnapshot, artifact_root: str) -> TrialJob:
    """The job the sweep builds for its one trial (trial 0 at rung 0: the sampler's seed and
    the space's one value), with a fresh artifact directory of its own."""
    params = {"learning_rate": LEARNING_RATE}
    return TrialJob(
        sweep_id=request.name,
        sweep_workflow_id=request.name,
        trial=TrialConfig(trial_index=0, params=params, seed=derive_seed(request.seed, 0, "train")),
        rung=0,
        budget=request.ladder.rungs[0].budget,
        max_budget=request.ladder.max_budget,
        unit=request.ladder.unit,
        model=request.model,
        training=TrainingParams.model_validate({**request.training.model_dump(), **params}),
        snapshot=snapshot,
        objective=request.objective,
        artifact_root=artifact_root,
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


def measure(
    stack: EmbeddedStack, variant: str, request: SweepRequest, snapshot: DatasetSnapshot, root: Path
) -> Measured:
    settings = stack.child_settings()
    name = request.name
    job_file = root / f"{name}.job.json"
    result_file = root / f"{name}.result.json"
    if variant == "service":
        job_file.write_text(sweep_input(request, settings).model_dump_json())
    else:
        job_file.write_text(bare_job(request, snapshot, settings.artifacts).model_dump_json())
    argv = [sys.executable, "-m", "benchmarks.service.trial_process", variant, str(job_file)]
    argv += [str(result_file), "--address", stack.address, "--sweep-id", name]
    log = root / f"{name}.{variant}.log"
    wall, peak_kib, code = run_child(argv, log)
    if code != 0:
        sys.exit(f"{variant} run failed ({code}):\n{log.read_text()[-3000:]}")
    return Measured(variant, wall, peak_kib / 1024, json.loads(result_file.read_text()))


def run_all(size: Size, root: Path) -> list[Measured]:
    from workers.ml.snapshot import create_snapshot

    stack = EmbeddedStack(
        Settings(data_dir=root / "state"),
        temporal_port=free_port(),
        ui_port=free_port(),
        api_port=None,
        workers=("orchestration",),
    )
    with stack:
        # Made here, so the sweep's snapshot activity finds it and reuses it, as a repeated
        # sweep on the same data does, and the bare script reads the same files.
        snapshot = create_snapshot(dataset(size), stack.settings.snapshot_root)
        measured = []
        for run, variant in enumerate(interleaved(VARIANTS, size.runs)):
            one = measure(stack, variant, make_request(size, run), snapshot, root)
            measured.append(one)
            print(
                f"run {run} {variant}: process {one.wall_seconds:.1f} s, trial span "
                f"{one.result['span_seconds']:.1f} s, train() {one.result['train_seconds']:.1f}"
                f" s, evaluation {one.result['eval_seconds']:.2f} s, peak RSS "
                f"{one.peak_rss_mib:.0f} MiB, step {one.result['global_step']}, accuracy "
                f"{one.result['accuracy']:.4f}",
                file=sys.stderr,
                flush=True,
            )
        return measured


def by_variant(measured: list[Measured], variant: str, field: str) -> list[float]:
    picked = [m for m in measured if m.variant == variant]
    if field == "wall":
        return [m.wall_seconds for m in picked]
    if field == "rss":
        return [m.peak_rss_mib for m in picked]
    return [float(m.result[field]) for m in picked]


def span_ratio(measured: list[Measured]) -> float:
    return median_ratio(
        by_variant(measured, "service", "span_seconds"),
        by_variant(measured, "bare", "span_seconds"),
    )


def section(size: Size, command: str, measured: list[Measured]) -> str:
    def row(label: str, field: str, unit: str, digits: int = 1) -> str:
        s, b = by_variant(measured, "service", field), by_variant(measured, "bare", field)
        return (
            f"| {label} | {spread(s).describe(unit, digits)} | {spread(b).describe(unit, digits)} "
            f"| {median_ratio(s, b):.3f} |"
        )

    def checkpoints(variant: str) -> list[int]:
        return sorted({len(m.result["checkpoints"]) for m in measured if m.variant == variant})

    ratio = span_ratio(measured)
    verdict = "within" if ratio <= GOAL else "over"
    lines = [
        f"## Cost of running a trial through the service ({today()})",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}; runs interleaved service, bare, service, bare ... so "
        "whatever else loads the machine hits both",
        f"- trial: {size.model}, {size.steps} steps, batch {size.batch}, max length "
        f"{size.max_length}, checkpoint every {size.save_every} steps, {size.train_rows} "
        f"training tweets, 100 held-out; {size.runs} runs of each variant, each a fresh process",
        "- service: a one-trial sweep (LadderSweepWorkflow, one rung, TPE over a space of one "
        "value) started on an embedded stack that was already up (dev server, orchestration "
        "worker, SQLite results index); its run is the `train_and_evaluate` activity on a "
        "training-worker process (the product's worker options and activities): the snapshot "
        "activity (reusing the snapshot on disk), the proposal, training with heartbeats, "
        f"control queries to the sweep every {contract.CONTROL_POLL_SECONDS:g} s and "
        "checkpoint reports, the evaluation of the last checkpoint, the index mirror and the "
        f"sweep's end (checkpoints per run: {checkpoints('service')}). bare: the same "
        "TrainingArguments, model, tokenised data and seed in a plain `Trainer.train()`, then "
        f"`Trainer.predict()` on the held-out split (checkpoints per run: {checkpoints('bare')}).",
        "- trial span: service, from starting the sweep to its result; bare, from reading the "
        "snapshot to the held-out predictions (same steps, same split). Neither includes "
        "interpreter start and imports; the process wall time does (and, for the service, "
        "connecting, starting and stopping the worker).",
        f"- trial span ratio service/bare (medians): **{ratio:.3f}** ({verdict} the {GOAL:g} goal)",
        "",
        "| figure (median, range) | service | bare script | ratio |",
        "|---|---:|---:|---:|",
        row("trial span", "span_seconds", " s"),
        row("`train()` alone", "train_seconds", " s"),
        row("evaluation", "eval_seconds", " s", 2),
        row("process wall time", "wall", " s"),
        row("peak RSS", "rss", " MiB", 0),
        "",
    ]
    return "\n".join(lines)


def describe(size: Size) -> str:
    return f"{size.model}, {size.steps} steps, {size.runs} runs of each variant"


def figure(size: Size, command: str, measured: list[Measured]) -> Figure:
    service = spread(by_variant(measured, "service", "span_seconds"))
    bare = spread(by_variant(measured, "bare", "span_seconds"))
    return Figure(
        what=FIGURE,
        goal=f"at most {GOAL:g}x",
        peer=f"bare Trainer script: {bare.median:.1f} s",
        ours=f"{span_ratio(measured):.3f}x ({service.median:.1f} s; {size.model}, "
        f"{size.steps} steps, n={service.count})"
        + ("" if size == FULL else f"; a reduced run: the full size is {describe(FULL)}"),
        command=command,
        date=today(),
    )


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
        measured = run_all(size, Path(tmp))
    flags = [
        *(["--quick"] if args.quick else []),
        *([f"--runs {args.runs}"] if args.runs else []),
        *([f"--steps {args.steps}"] if args.steps else []),
    ]
    command = " ".join(["uv run python -m benchmarks.service.service_overhead", *flags])
    text = section(size, command, measured)
    prepend_section(text)
    record_figures([figure(size, command, measured)])
    print(text)


if __name__ == "__main__":
    main()
