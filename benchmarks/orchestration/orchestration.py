"""Orchestration cost per trial: this service against bare Temporal, Optuna and Ray Tune.

    uv run python -m benchmarks.orchestration.orchestration [--quick] [--trials 500] [--concurrency 16]
        [--long-seconds 10] [--long-trials 160] [--ray-trials 48] [--repeats 3]

Every system runs trials whose training only sleeps (1 s, then 10 s for this service), at
most ``concurrency`` at once. The fixed cost of a trial, in slot-seconds, is what the run
took beyond perfect packing, spread over its trials:

    (wall - trials * seconds / concurrency) * concurrency / trials

- this service: a sweep (TPE, the default strategy; once also random) of ``trials`` 1-step
  trials POSTed to the API of an embedded stack
  (dev server, orchestration worker, API, SQLite index), whose training worker is
  ``benchmarks.orchestration.sleep_worker``: the workflows, proposals, index mirror and evaluation step are
  the real ones. The wall is from the POST to the workflow's end (index flushed).
- the floor: a bare workflow running the sleeps as plain activities under a semaphore, and
  with one child workflow per trial, on the same dev server.
- before and after: the floor and this service once more per repeat on a stack whose dev
  server keeps SQLite's default rollback journal (the stack's own is write-ahead).
- Optuna with durable storage (SQLite file, Postgres) as ``concurrency`` worker processes,
  and in memory with ``concurrency`` threads; Ray Tune with ``concurrency`` one-CPU trials
  (``--ray-trials`` of them: on 2 cores each takes tens of slot-seconds). The 10-s trials
  run ``--long-trials`` of them (ten waves of 16 by default, so the run stays short).

CPU seconds per trial are those of the processes doing the work, read from /proc before and
after: for this service the Temporal server, the workers and the API, apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import psutil
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from app.cli.embedded import TEMPORAL_SQLITE_PRAGMAS, EmbeddedStack, WorkerProcess, free_port
from app.settings import Settings
from benchmarks.common.report import machine, prepend_section, today
from benchmarks.orchestration.floor import FanOut, run_floor
from benchmarks.service.leaderboard import throwaway_postgres

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
STACK_PARTS = ("temporal", "orchestration", "training", "api")
# What --systems may leave out, for a shorter look at one part.
OPTIONAL_SYSTEMS = ("children", "journal", "long", "optuna", "ray")
# The floor and the service again on a dev server with SQLite's default rollback journal
# (the stack's own runs write-ahead): what the write-ahead log saves a trial.
ROLLBACK_JOURNAL = "server's SQLite in rollback-journal mode"


@dataclass
class Run:
    system: str
    seconds: float
    concurrency: int
    trials: int
    wall: float
    cpu: dict[str, float] = field(default_factory=dict)  # part -> CPU seconds in the run

    @property
    def slot_seconds(self) -> float:
        """Fixed cost per trial beyond perfect packing, in slot-seconds."""
        ideal = self.trials * self.seconds / self.concurrency
        return (self.wall - ideal) * self.concurrency / self.trials

    @property
    def overhead(self) -> float:
        """Wall beyond perfect packing, as a fraction of perfect packing."""
        ideal = self.trials * self.seconds / self.concurrency
        return self.wall / ideal - 1

    def named(self, suffix: str) -> Run:
        return replace(self, system=self.system + suffix)

    def cpu_per_trial(self, part: str | None = None) -> float:
        total = self.cpu.get(part, 0.0) if part else sum(self.cpu.values())
        return total / self.trials


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live descendants."""
    process = psutil.Process(pid)
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def sweep_request(
    trials: int, seconds: float, concurrency: int, strategy: str = "tpe"
) -> dict[str, object]:
    return {
        "strategy": strategy,
        "name": f"orchestration-{trials}x{seconds:g}s",
        "model": {"source": "tiny-bert"},
        "dataset": {"source": "tweet-sentiment"},
        "space": {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}},
        # One rung whose budget is the trial's length in seconds (the sleep worker's unit).
        "ladder": {"unit": "steps", "trials": trials, "rungs": [{"budget": seconds}]},
        "objective": {"metric": "accuracy"},
        "max_concurrency": concurrency,
        "seed": 0,
    }


def run_service(
    stack: EmbeddedStack, trials: int, seconds: float, concurrency: int, strategy: str = "tpe"
) -> Run:
    pids = {part: stack.pid(part) for part in STACK_PARTS}
    before = {part: cpu_seconds(pid) for part, pid in pids.items()}
    started = time.monotonic()
    with httpx.Client(base_url=stack.api_url, timeout=60) as api:
        reply = api.post(
            "/sweeps",
            json=sweep_request(trials, seconds, concurrency, strategy),
            headers=stack.auth_headers(),
        )
        if reply.status_code != 201:
            raise RuntimeError(f"POST /sweeps: {reply.status_code} {reply.text}")
        sweep_id = reply.json()["sweep_id"]
    asyncio.run(_wait_for_workflow(stack.address, sweep_id))
    wall = time.monotonic() - started
    cpu = {part: cpu_seconds(pid) - before[part] for part, pid in pids.items()}
    name = "this service" if strategy == "tpe" else f"this service, {strategy} proposals"
    return Run(name, seconds, concurrency, trials, wall, cpu)


async def _wait_for_workflow(address: str, workflow_id: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    await client.get_workflow_handle(workflow_id).result()


def run_bare(
    stack: EmbeddedStack, trials: int, seconds: float, concurrency: int, children: bool
) -> Run:
    server = stack.pid("temporal")
    before = cpu_seconds(server)
    inp = FanOut(trials=trials, concurrency=concurrency, seconds=seconds, children=children)
    floor = asyncio.run(run_floor(stack.address, inp))
    name = "bare Temporal, child workflow per trial" if children else "bare Temporal, activities"
    cpu = {"temporal": cpu_seconds(server) - before, "workers": floor.worker_cpu}
    return Run(name, seconds, concurrency, trials, floor.wall, cpu)


def run_peer(peer: str, trials: int, seconds: float, concurrency: int, **options: str) -> Run:
    argv = [sys.executable, "-m", "benchmarks.orchestration.peers", peer, "--trials", str(trials)]
    argv += ["--seconds", str(seconds), "--concurrency", str(concurrency)]
    for name, value in options.items():
        argv += [f"--{name}", value]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{peer} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    names = {
        "optuna-sqlite": "Optuna, RDB storage on SQLite",
        "optuna-postgres": "Optuna, RDB storage on Postgres",
        "optuna-memory": "Optuna, in memory",
        "ray": "Ray Tune",
    }
    return Run(
        names[peer], seconds, concurrency, figures["trials"], figures["wall"],
        {"workers": figures["cpu"]},
    )  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def describe(run: Run) -> str:
    return (
        f"{run.system}: {run.trials} x {run.seconds:g} s at {run.concurrency}: wall "
        f"{run.wall:.1f} s, {run.slot_seconds:.3f} slot-s/trial, "
        f"{run.cpu_per_trial():.3f} CPU-s/trial"
    )


def measure(args: argparse.Namespace) -> list[Run]:
    """Every repeat brings the stack up on a fresh state directory, runs the floor and this
    service (on the stack as shipped and on one with the rollback journal, in turns of which
    goes first), takes the stack down and runs Optuna's durable studies: so each system gets as
    many runs as the others, interleaved, and no system's run shares the machine with another
    system's idle processes."""
    trials, concurrency = args.trials, args.concurrency
    runs: list[Run] = []

    def record(run: Run) -> None:
        log(describe(run))
        runs.append(run)

    os.environ["SWEEPS_RATE_LIMIT_PER_MINUTE"] = "0"
    with tempfile.TemporaryDirectory() as state:
        for repeat in range(args.repeats):
            first = repeat == 0
            journals: list[tuple[str, ...]] = [TEMPORAL_SQLITE_PRAGMAS]
            if "journal" in args.systems:  # before and after, in turns of who goes first
                journals.insert(repeat % 2, ())
            for pragmas in journals:
                where = Path(state) / f"stack-{repeat}-{len(pragmas)}"
                with service_stack(where, pragmas) as stack:
                    _stack_runs(stack, args, record, first=first)
            if "optuna" in args.systems:
                if first:  # nothing durable: far below the others, once is enough
                    record(run_peer("optuna-memory", trials, 1.0, concurrency))
                studies = Path(state) / f"optuna-{repeat}"
                studies.mkdir()
                record(run_peer("optuna-sqlite", trials, 1.0, concurrency, state=str(studies)))
                with throwaway_postgres(args.admin_url) as url:
                    # SQLAlchemy (under Optuna) reads a bare postgresql:// as psycopg2.
                    driver_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
                    record(run_peer("optuna-postgres", trials, 1.0, concurrency, url=driver_url))
        if "ray" in args.systems and args.ray_trials:
            record(run_peer("ray", args.ray_trials, 1.0, concurrency))
    return runs


def _stack_runs(
    stack: EmbeddedStack,
    args: argparse.Namespace,
    record: Callable[[Run], None],
    *,
    first: bool,
) -> None:
    """The floor and this service on one stack; on the first stack as shipped, the runs made
    only once. Runs on a rollback-journal stack are named so."""
    trials, concurrency = args.trials, args.concurrency
    shipped = stack.temporal_sqlite_pragmas == TEMPORAL_SQLITE_PRAGMAS
    suffix = "" if shipped else f", {ROLLBACK_JOURNAL}"
    first = first and shipped
    # A small sweep first: workers warm (imports, caches) before anything is timed.
    run_service(stack, concurrency, 1.0, concurrency)
    record(run_bare(stack, trials, 1.0, concurrency, children=False).named(suffix))
    # Once: it is far from the others, and slow to run.
    if "children" in args.systems and first:
        record(run_bare(stack, trials, 1.0, concurrency, children=True))
    record(run_service(stack, trials, 1.0, concurrency).named(suffix))
    if first:  # one proposal per rung instead of TPE's waves
        record(run_service(stack, trials, 1.0, concurrency, "random"))
    if "long" in args.systems and first:
        long = args.long_trials, args.long_seconds, concurrency
        record(run_service(stack, *long))
        record(run_bare(stack, *long, False))


def service_stack(state: Path, pragmas: tuple[str, ...] = TEMPORAL_SQLITE_PRAGMAS) -> EmbeddedStack:
    return EmbeddedStack(
        Settings(data_dir=state),
        temporal_sqlite_pragmas=pragmas,
        temporal_port=free_port(),
        ui_port=free_port(),
        api_port=free_port(),
        workers=(
            "orchestration",
            WorkerProcess("training", "benchmarks.orchestration.sleep_worker"),
        ),
    )


def summarise(runs: list[Run]) -> dict[tuple[str, float], list[Run]]:
    groups: dict[tuple[str, float], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.system, run.seconds), []).append(run)
    return groups


def _median_range(values: list[float], digits: int) -> str:
    median = f"{statistics.median(values):.{digits}f}"
    if len(values) == 1:
        return median
    return f"{median} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def _cpu_cell(group: list[Run], part: str | None) -> str:
    values = [run.cpu_per_trial(part) for run in group if part is None or part in run.cpu]
    return _median_range(values, 3) if values else "-"


def table(runs: list[Run]) -> list[str]:
    lines = [
        "| system | trial | trials | runs | wall s | slot-s per trial | overhead | CPU-s per "
        "trial: server | workers | API | all |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (system, seconds), group in summarise(runs).items():
        workers = [
            sum(run.cpu.get(part, 0.0) for part in ("orchestration", "training", "workers"))
            / run.trials
            for run in group
        ]
        cells = [
            system,
            f"{seconds:g} s",
            str(group[0].trials),
            str(len(group)),
            _median_range([run.wall for run in group], 1),
            _median_range([run.slot_seconds for run in group], 3),
            _median_range([100 * run.overhead for run in group], 1) + " %",
            _cpu_cell(group, "temporal"),
            _median_range(workers, 3),
            _cpu_cell(group, "api"),
            _cpu_cell(group, None),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def goals(runs: list[Run]) -> list[str]:
    groups = summarise(runs)

    def median_slot(system: str, seconds: float = 1.0) -> float | None:
        group = groups.get((system, seconds))
        return statistics.median(run.slot_seconds for run in group) if group else None

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    ours = median_slot("this service")
    floor = median_slot("bare Temporal, activities")
    lines: list[str] = []
    if ours is None or floor is None:
        return lines
    lines.append(f"- At most 0.5 slot-seconds per 1-s trial: {ours:.3f}, {verdict(ours <= 0.5)}.")
    lines.append(
        f"- At most 3x the plain-activity floor ({floor:.3f}): {ours / floor:.1f}x, "
        f"{verdict(ours <= 3 * floor)}."
    )
    for peer in ("Optuna, RDB storage on SQLite", "Optuna, RDB storage on Postgres", "Ray Tune"):
        theirs = median_slot(peer)
        if theirs is not None:
            lines.append(
                f"- Below {peer} ({theirs:.3f}): {verdict(ours < theirs)} "
                f"({ours / theirs:.2g}x of it)."
            )
    long_runs = [run for (system, s), group in groups.items() if system == "this service"
                 and s > 1 for run in group]  # fmt: skip
    if long_runs:
        overhead = statistics.median(run.overhead for run in long_runs)
        lines.append(
            f"- Overhead under 5 % with {long_runs[0].seconds:g}-s trials: "
            f"{100 * overhead:.1f} %, {verdict(overhead < 0.05)}."
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 trials, one repeat, 16 Ray trials")
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="runs of the 1-s service and floors")
    parser.add_argument("--long-seconds", type=float, default=10.0)
    parser.add_argument("--long-trials", type=int, default=160)
    parser.add_argument("--ray-trials", type=int, default=48)
    parser.add_argument("--admin-url", default=ADMIN_URL, help="Postgres for Optuna's storage")
    parser.add_argument(
        "--systems",
        nargs="+",
        choices=OPTIONAL_SYSTEMS,
        default=list(OPTIONAL_SYSTEMS),
        help="besides this service and the plain-activity floor (default: all)",
    )
    parser.add_argument("--no-record", action="store_true", help="print, leave the history alone")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.repeats, args.ray_trials, args.long_trials = 64, 1, 16, 32

    runs = measure(args)
    command = "uv run python -m benchmarks.orchestration.orchestration" + (
        " --quick" if args.quick else ""
    )
    section = "\n".join(
        [
            f"## Orchestration cost per trial ({today()})",
            "",
            f"Command: `{command}` (part of `make bench`). Machine: {machine()}; the Temporal "
            "dev server (SQLite), Postgres and every worker on the same machine.",
            "",
            f"Trials only sleep; at most {args.concurrency} at once. Slot-seconds per trial = "
            "(wall - trials x trial length / concurrency) x concurrency / trials: what a trial "
            "costs beyond its own work. Medians, with the range when repeated, of runs "
            "interleaved in one session. CPU: this service's server, workers (orchestration "
            "and the sleeping training worker) and API apart; for Optuna and Ray Tune the "
            "processes running the study (Postgres's own CPU is not counted).",
            "",
            *table(runs),
            "",
            *goals(runs),
            "",
        ]
    )
    if not args.no_record:
        prepend_section(section)
    print(section)


if __name__ == "__main__":
    main()
