"""Run every benchmark, one after the other, each in a process of its own.

    uv run python -m benchmarks [--quick] [--only NAME ...] [--list]

Each benchmark prepends its section (command, machine, date, medians and ranges) to
docs/benchmarks-history.md, updates its rows of the table in BENCHMARKS.md where it owns any
(see ``benchmarks.common.report``) and draws its curves under docs/figures/. ``--quick``
passes ``--quick`` on: smaller runs that finish in a few minutes in all, to check that
everything works; the figures quoted in the docs come from full runs. ``--only`` also runs
the experiments left out of the default run; ``--list`` names every entry point under
``benchmarks/`` and how it is reached.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import time
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent

# In the order of BENCHMARKS.md's table: orchestration, search quality, fine-tuning, what
# checkpoints save, the cost of the service around one trial, then the service's own figures.
BENCHMARKS = {
    "orchestration": "benchmarks.orchestration.orchestration",
    "search_quality": "benchmarks.search.search_quality",
    "finetune_quality": "benchmarks.finetune.finetune_quality",
    "checkpoint_savings": "benchmarks.finetune.checkpoint_savings",
    "service_overhead": "benchmarks.service.service_overhead",
    "service_figures": "benchmarks.service.service_figures",
}

# Run with --only NAME, not by default: each explains or repeats a default benchmark. With
# the arguments its own small run takes under --quick (not every one has a --quick).
EXTRAS = {
    "slot_phases": (
        "benchmarks.orchestration.slot_phases",
        ("--trials", "64"),
        "explains the orchestration figures from workflow histories; records nothing",
    ),
    "search_waves": (
        "benchmarks.search.search_waves",
        ("--quick",),
        "the experiment behind search_quality's waves; records nothing",
    ),
    "api_latency": (
        "benchmarks.service.api_latency",
        ("--trials", "1000", "--calls", "50", "--posts", "20"),
        "the same calls service_figures times, as a section of their own",
    ),
    "leaderboard": (
        "benchmarks.service.leaderboard",
        ("--trials", "1000", "--calls", "50"),
        "the leaderboard query below the API (service_figures times it over HTTP); prints",
    ),
    "code_size": (
        "benchmarks.common.code_size",
        ("9c77621", "HEAD"),
        "product lines and module sizes at git revisions; prints",
    ),
    "demo_sweep": (
        "benchmarks.service.demo_sweep",
        ("--preset", "tiny", "--runs", "1"),
        "`sweeps demo` end to end, several minutes a run",
    ),
}

# Never run from here, with the reason.
ELSEWHERE = {
    "benchmarks.finetune.gpu_throughput": "needs a CUDA GPU: run it by hand on a GPU machine",
    "benchmarks.service.fault_drills": "kills workers for about ten minutes: `make faults`",
    "benchmarks.orchestration.peers": "a peer's process, started by orchestration",
    "benchmarks.orchestration.sleep_worker": "a stand-in training worker, started by orchestration",
    "benchmarks.service.trial_process": "one trial's process, started by service_overhead",
}


def runnable() -> dict[str, str]:
    return {**BENCHMARKS, **{name: module for name, (module, _, _) in EXTRAS.items()}}


def quick_args(name: str) -> tuple[str, ...]:
    return EXTRAS[name][1] if name in EXTRAS else ("--quick",)


def entry_points() -> list[str]:
    """Dotted names of the modules under benchmarks/ that define a top-level main()."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        if path.name != "__main__.py" and any(
            isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body
        ):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            found.append(".".join(parts))
    return found


def unlisted() -> list[str]:
    listed = set(runnable().values()) | set(ELSEWHERE)
    return [module for module in entry_points() if module not in listed]


def print_list() -> None:
    for name, module in BENCHMARKS.items():
        print(f"{name:20} {module} (default run)")
    for name, (module, _, why) in EXTRAS.items():
        print(f"{name:20} {module} (--only {name}: {why})")
    for module, why in ELSEWHERE.items():
        print(f"{'-':20} {module} ({why})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small runs, a few minutes in all")
    parser.add_argument("--only", nargs="+", choices=runnable(), help="run only these")
    parser.add_argument("--list", action="store_true", help="name every entry point and exit")
    args = parser.parse_args(argv)
    missing = unlisted()
    if missing:  # a new benchmark must say how it is run before anything runs
        print(f"not listed in benchmarks/__main__.py: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.list:
        print_list()
        return 0

    modules = runnable()
    failed: list[str] = []
    for name in args.only or BENCHMARKS:
        command = [sys.executable, "-m", modules[name], *(quick_args(name) if args.quick else ())]
        print(f"==> {' '.join(command[1:])}", file=sys.stderr, flush=True)
        started = time.monotonic()
        code = subprocess.run(command, check=False).returncode
        took = time.monotonic() - started
        print(
            f"<== {name}: {'ok' if code == 0 else f'exit {code}'} in {took:.0f} s", file=sys.stderr
        )
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
