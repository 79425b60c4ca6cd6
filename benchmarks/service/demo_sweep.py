"""Time the sample sweeps end to end and record the figures in the benchmark history.

    uv run python -m benchmarks.service.demo_sweep [--preset default|tiny] [--runs N]

Each run is `sweeps demo --json` on a fresh state directory (dev server start, workers,
snapshot, the whole ladder, shutdown), so the wall time is what a user waits for.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

from app.cli.embedded import free_port
from app.domain import SweepResult
from benchmarks.common.report import machine, prepend_section, today

MAJORITY_CLASS_ACCURACY = 16186 / 38158  # negative tweets in the bundled corpus


def run_once(preset: str, seed: int) -> tuple[float, SweepResult]:
    with tempfile.TemporaryDirectory() as state:
        argv = [
            sys.executable, "-m", "app.cli", "demo", "--preset", preset, "--json",
            "--seed", str(seed), "--data-dir", state,
            "--temporal-port", str(free_port()), "--ui-port", str(free_port()),
            "--api-port", str(free_port()),
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"demo failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, SweepResult.model_validate(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=["default", "tiny"])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()

    rows = []
    for seed in range(args.runs):
        wall, result = run_once(args.preset, seed)
        best = result.best
        accuracy = best.metrics.accuracy if best and best.metrics else float("nan")
        rows.append((seed, wall, accuracy, best.trial_id if best else "-"))
        print(f"seed {seed}: {wall:.0f} s, best accuracy {accuracy:.4f}", file=sys.stderr)

    walls = [r[1] for r in rows]
    accs = [r[2] for r in rows]
    command = (
        f"uv run python -m benchmarks.service.demo_sweep --preset {args.preset} --runs {args.runs}"
    )
    lines = [
        f"## Sample sweep `--preset {args.preset}` ({today()})",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}",
        f"- wall time (fresh stack to leaderboard): median {statistics.median(walls):.0f} s, "
        f"range {min(walls):.0f}-{max(walls):.0f} s over {len(walls)} run(s)",
        f"- best held-out accuracy: median {statistics.median(accs):.4f}, range "
        f"{min(accs):.4f}-{max(accs):.4f} (majority class: {MAJORITY_CLASS_ACCURACY:.4f})",
        "",
        "| seed | wall (s) | best accuracy | best trial |",
        "|---:|---:|---:|---|",
        *(f"| {s} | {w:.0f} | {a:.4f} | {t} |" for s, w, a, t in rows),
        "",
    ]
    section = "\n".join(lines)
    prepend_section(section)
    print(section)


if __name__ == "__main__":
    main()
