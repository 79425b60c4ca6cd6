"""Run every benchmark, one after the other, each in a process of its own.

    uv run python -m benchmarks [--quick] [--only NAME ...]

Each benchmark prepends its section (command, machine, date, medians and ranges) to
BENCHMARKS.md and draws its curves under docs/figures/. ``--quick`` passes ``--quick`` on:
smaller runs that finish in a few minutes in all, to check that everything works; the
figures quoted in the docs come from full runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

# In the order of BENCHMARKS.md's summary: orchestration, search quality, what checkpoints
# save, the cost of the service around one trial, then the service's own figures.
BENCHMARKS = (
    "orchestration",
    "search_quality",
    "finetune_quality",
    "checkpoint_savings",
    "service_overhead",
    "service_figures",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small runs, a few minutes in all")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    args = parser.parse_args(argv)

    failed: list[str] = []
    for name in args.only or BENCHMARKS:
        command = [sys.executable, "-m", f"benchmarks.{name}", *(["--quick"] if args.quick else [])]
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
