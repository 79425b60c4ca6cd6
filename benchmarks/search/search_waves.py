"""Search quality with trials in flight: waved ladder proposals against parallel Optuna.

    uv run python -m benchmarks.search.search_waves [--quick] [--seeds N] [--scale K]
        [--concurrency C ...] [--lags L ...] [--workers W] [--out PATH]

An experiment beside ``benchmarks.search.search_quality`` (same functions, ladder and common
budget): the sweep runs ``max_concurrency`` = C trials at once, so neither side should see a
result before the trials started ahead of it finish. Per function and seed it runs

- ladder + TPE as the workflow proposes (every fresh trial at its rung's boundary);
- ladder + TPE waved: a rung's fresh trials proposed C at a time, wave k seeing the results
  of waves <= k - L at that rung plus all lower rungs, in-flight fresh trials as pending
  (``search_sim.Waves``), for each C and L;
- Optuna TPE + Hyperband one trial at a time, and with C trials in flight
  (``search_sim.run_optuna_parallel``).

It prints a table (median regret [quartiles] over seeds at 25/50/100% of the common budget)
and writes it to ``--out`` when given; it does not touch the benchmark history or the figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common.report import machine, today
from benchmarks.search.mf_functions import FUNCTIONS
from benchmarks.search.search_quality import BUDGETS, FRACTIONS, _fmt, make_ladder, summarise
from benchmarks.search.search_sim import (
    Curve,
    Waves,
    run_ladder,
    run_optuna_hyperband,
    run_optuna_parallel,
)

LADDER = "ladder + TPE, proposed at the rung boundary (workflow now)"
OPTUNA_SEQUENTIAL = "Optuna TPE + Hyperband, one trial at a time"


def waved(concurrency: int, lag: int, fit: str = "rung") -> str:
    return f"ladder + TPE waved, c={concurrency}, lag {lag}" + _fit_label(fit)


def _fit_label(fit: str) -> str:
    return ", stacked fit" if fit == "stacked" else ""


def optuna_parallel(concurrency: int) -> str:
    return f"Optuna TPE + Hyperband, c={concurrency} in flight"


def strategy_names(concurrencies: Sequence[int], lags: Sequence[int], fit: str) -> list[str]:
    names = [LADDER + _fit_label(fit), OPTUNA_SEQUENTIAL]
    for c in concurrencies:
        names += [waved(c, lag, fit) for lag in lags] + [optuna_parallel(c)]
    return names


@dataclass(frozen=True)
class Job:
    function: str
    seed: int
    scale: int
    concurrencies: tuple[int, ...]
    lags: tuple[int, ...]
    fit: str = "rung"


def run_job(job: Job) -> tuple[Job, dict[str, Curve], float]:
    fn = FUNCTIONS[job.function]
    ladder = make_ladder(job.scale)
    stacked = job.fit == "stacked"
    now = run_ladder(fn, ladder, "tpe", job.seed, stacked_fit=stacked)
    total = now.compute_continuing
    # A fixed study name: the HyperbandPruner's brackets hash it, so runs repeat.
    name = f"{job.function}-{job.seed}"
    curves = {
        LADDER + _fit_label(job.fit): now.continuing,
        OPTUNA_SEQUENTIAL: run_optuna_hyperband(fn, BUDGETS, total, job.seed, study_name=name),
    }
    for c in job.concurrencies:
        for lag in job.lags:
            waves = Waves(size=c, lag=lag)
            run = run_ladder(fn, ladder, "tpe", job.seed, waves=waves, stacked_fit=stacked)
            curves[waved(c, lag, job.fit)] = run.continuing
        curves[optuna_parallel(c)] = run_optuna_parallel(
            fn, BUDGETS, total, job.seed, c, study_name=name
        )
    return job, curves, total


def table(
    title: str, results: list[tuple[Job, dict[str, Curve], float]], names: Sequence[str]
) -> list[str]:
    total = results[0][2]
    unit = BUDGETS[-1]
    points = np.array([f * total for f in FRACTIONS])
    header = " | ".join(
        f"{f:.0%} ({p / unit:g} evals)" for f, p in zip(FRACTIONS, points, strict=True)
    )
    rows = [
        f"| {name} | "
        + " | ".join(_fmt(q) for q in summarise([c[name] for _, c, _ in results], points))
        + " |"
        for name in names
    ]
    return [
        f"### {title}",
        "",
        f"Simple regret, median [quartiles] over {len(results)} seeds, at a share of "
        f"{total:g} budget units ({total / unit:g} full-fidelity evaluations).",
        "",
        f"| strategy | {header} |",
        "|---|" + "---:|" * len(FRACTIONS),
        *rows,
        "",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, the smallest ladder")
    parser.add_argument("--seeds", type=int, help="seeds (default 20, quick 2)")
    parser.add_argument("--scale", type=int, help="ladder size K (default 6, quick 1)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--lags", type=int, nargs="+", default=[2, 1])
    parser.add_argument(
        "--fit",
        choices=["rung", "stacked"],
        default="rung",
        help="TPE fitted on one rung (as the product) or on every trial ranked across rungs",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes (seeds in parallel)")
    parser.add_argument(
        "--functions", nargs="+", choices=sorted(FUNCTIONS), default=list(FUNCTIONS)
    )
    parser.add_argument("--out", type=Path, help="also write the tables here (markdown)")
    args = parser.parse_args(argv)
    seeds = args.seeds or (2 if args.quick else 20)
    scale = args.scale or (1 if args.quick else 6)
    concurrencies, lags = tuple(args.concurrency), tuple(args.lags)

    jobs = [
        Job(name, seed, scale, concurrencies, lags, args.fit)
        for seed in range(seeds)
        for name in args.functions
    ]
    results: dict[str, list[tuple[Job, dict[str, Curve], float]]] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for done, result in enumerate(pool.map(run_job, jobs), start=1):
            results.setdefault(result[0].function, []).append(result)
            print(
                f"[{done}/{len(jobs)}] {result[0].function} seed {result[0].seed}", file=sys.stderr
            )

    names = strategy_names(concurrencies, lags, args.fit)
    lines = [
        f"## Search quality with trials in flight, simulated ({today()})",
        "",
        f"- command: `uv run python -m benchmarks.search.search_waves {' '.join(argv or sys.argv[1:])}`",
        f"- machine: {machine()}, shared (figures are in budget units, not seconds)",
        f"- ladder: as `benchmarks.search.search_quality` at scale {scale}; concurrency {concurrencies}, "
        f"lags {lags}",
        "",
    ]
    for name in args.functions:
        ordered = sorted(results[name], key=lambda r: r[0].seed)
        lines += table(FUNCTIONS[name].title, ordered, names)
    text = "\n".join(lines)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
