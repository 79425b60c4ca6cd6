"""Search quality at equal compute on multi-fidelity test functions with known optima.

    uv run python -m benchmarks.search.search_quality [--quick] [--seeds N] [--scale K] [--workers W]

Seven strategies, each over ``--seeds`` seeds, on the augmented Hartmann-6 and Branin functions
(``benchmarks/search/mf_functions.py``), all given the same compute in budget units:

1. ladder + TPE: this product's sweep at ``max_concurrency`` = ``--concurrency`` (default 4),
   simulated with its own search code (``benchmarks/search/search_sim.py``): fresh trials proposed
   in waves of that size (``app.search.waves``), promotions continuing from checkpoints; and
   the same sweep at ``max_concurrency`` 1, to set beside Optuna's one trial at a time;
2. ladder + random: the same ladder with the ``random`` strategy;
3. the seed's behaviour: ladder + TPE with every fresh trial proposed at its rung's boundary
   and promotions retrained from scratch (each promotion pays the whole new budget);
4. Optuna's TPESampler with the HyperbandPruner, reporting at the ladder's budgets, one
   trial at a time;
5. the same with ``--concurrency`` trials in flight (constant liar), in budget time;
6. plain random search, every trial at full fidelity.

The ladder (eta = 3, budgets 1, 3, 9, 27, fidelity = budget / 27) scales with ``K``: 27K
trials at rung 0 and 9K, 3K, K fresh TPE proposals joining rungs 1, 2, 3, so that TPE proposes
at every rung (the seed's boundary proposals would never consult TPE on a ladder with fresh
trials only at rung 0, since rung 0 is proposed before anything is observed). One such sweep costs 216K budget units
with checkpoint continuation; that is the common budget every strategy gets (Optuna and
random search run trials until it is spent; the seed's behaviour gets as far through the
same ladder as it can). Regret is the full-fidelity value of the configuration a strategy
would return at that point, minus the known optimum; it is reported as median and quartiles
over seeds against compute used, in full-fidelity evaluations (27 budget units each).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # before pyplot is imported: no display here
import matplotlib.pyplot as plt

from app.domain.request import Ladder, Rung
from benchmarks.common.report import machine, prepend_section, today
from benchmarks.search.mf_functions import FUNCTIONS, MFFunction
from benchmarks.search.search_sim import (
    Curve,
    Waves,
    run_ladder,
    run_optuna_hyperband,
    run_optuna_parallel,
    run_random,
)

FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"
ETA = 3
BUDGETS = (1.0, 3.0, 9.0, 27.0)
FRACTIONS = (0.25, 0.5, 1.0)
GRID_POINTS = 1000

DEFAULT_CONCURRENCY = 4
LADDER_TPE = "ladder + TPE (this product, waved)"
LADDER_TPE_ONE = "ladder + TPE, one trial at a time (max_concurrency 1)"
LADDER_RANDOM = "ladder + random"
SEED_RETRAIN = "ladder + TPE, boundary proposals, retrain from scratch (seed)"
OPTUNA = "Optuna TPE + Hyperband, one trial at a time"
OPTUNA_PARALLEL = "Optuna TPE + Hyperband, same concurrency"
RANDOM = "random search, full fidelity"
STRATEGIES = (
    LADDER_TPE,
    LADDER_TPE_ONE,
    LADDER_RANDOM,
    SEED_RETRAIN,
    OPTUNA,
    OPTUNA_PARALLEL,
    RANDOM,
)


def make_ladder(scale: int) -> Ladder:
    """The benchmark's ladder: eta 3, budgets 1-3-9-27, fresh TPE trials at every rung."""
    fresh = [0, 9 * scale, 3 * scale, scale]
    return Ladder(
        unit="steps",
        trials=27 * scale,
        reduction_factor=ETA,
        rungs=[Rung(budget=b, new_trials=n) for b, n in zip(BUDGETS, fresh, strict=True)],
    )


@dataclass(frozen=True)
class Job:
    function: str
    seed: int
    scale: int
    concurrency: int = DEFAULT_CONCURRENCY


def run_job(job: Job) -> tuple[Job, dict[str, Curve], float]:
    """Every strategy on one (function, seed); returns the curves and the common budget."""
    fn = FUNCTIONS[job.function]
    ladder = make_ladder(job.scale)
    c = job.concurrency
    tpe = run_ladder(fn, ladder, "tpe", job.seed, waves=Waves(size=c))
    seed = run_ladder(fn, ladder, "tpe", job.seed)
    total = tpe.compute_continuing
    # A fixed study name: the HyperbandPruner assigns brackets by a hash of it, and an
    # unnamed study gets a random one, so the Optuna rows would not repeat run to run.
    name = f"{job.function}-{job.seed}"
    curves = {
        LADDER_TPE: tpe.continuing,
        LADDER_TPE_ONE: run_ladder(fn, ladder, "tpe", job.seed, waves=Waves(size=1)).continuing,
        SEED_RETRAIN: seed.retraining,
        LADDER_RANDOM: run_ladder(fn, ladder, "random", job.seed, waves=Waves(size=c)).continuing,
        OPTUNA: run_optuna_hyperband(fn, BUDGETS, total, job.seed, study_name=name),
        OPTUNA_PARALLEL: run_optuna_parallel(fn, BUDGETS, total, job.seed, c, study_name=name),
        RANDOM: run_random(fn, BUDGETS[-1], total, job.seed),
    }
    return job, curves, total


def quartiles(values: Sequence[float | None]) -> tuple[float, float, float] | None:
    """(q25, median, q75); a seed that has returned nothing yet counts as worse than any."""
    filled = np.array([np.inf if v is None else v for v in values], dtype=float)
    with np.errstate(invalid="ignore"):  # inf - inf between two empty seeds: NaN, dropped
        q = np.quantile(filled, [0.25, 0.5, 0.75])
    if not np.all(np.isfinite(q)):
        return None
    return float(q[0]), float(q[1]), float(q[2])


def summarise(curves: Sequence[Curve], grid: np.ndarray) -> list[tuple[float, float, float] | None]:
    return [quartiles([c.at(x) for c in curves]) for x in grid]


def first_reaching(
    grid: np.ndarray, summary: Sequence[tuple[float, float, float] | None], target: float
) -> float | None:
    """The first compute at which the median regret is at most ``target``."""
    for x, q in zip(grid, summary, strict=True):
        if q is not None and q[1] <= target:
            return float(x)
    return None


def plot(
    fn: MFFunction,
    grid: np.ndarray,
    summaries: dict[str, list[tuple[float, float, float] | None]],
    unit: float,
    seeds: int,
    path: Path,
) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    floor = 1e-6  # a log axis cannot show a regret of exactly 0
    for name in STRATEGIES:
        xs = [x / unit for x, q in zip(grid, summaries[name], strict=True) if q is not None]
        qs = [q for q in summaries[name] if q is not None]
        if not qs:
            continue
        low, mid, high = (np.maximum([q[i] for q in qs], floor) for i in range(3))
        (line,) = ax.plot(xs, mid, label=name, linewidth=1.6)
        ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_yscale("log")
    ax.set_xlabel("compute used (full-fidelity evaluations)")
    ax.set_ylabel("simple regret (median, quartile band)")
    ax.set_title(f"{fn.title}: {seeds} seeds")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(q: tuple[float, float, float] | None) -> str:
    if q is None:
        return "none returned"
    return f"{q[1]:.3g} [{q[0]:.3g}, {q[2]:.3g}]"


def function_report(
    fn: MFFunction, results: list[tuple[Job, dict[str, Curve], float]], seeds: int
) -> list[str]:
    total = results[0][2]
    unit = BUDGETS[-1]
    grid = np.linspace(total / GRID_POINTS, total, GRID_POINTS)
    summaries = {
        name: summarise([curves[name] for _, curves, _ in results], grid) for name in STRATEGIES
    }
    figure = FIGURES / f"search_quality_{fn.name}.png"
    plot(fn, grid, summaries, unit, seeds, figure)

    points = np.array([f * total for f in FRACTIONS])
    at = {name: summarise([c[name] for _, c, _ in results], points) for name in STRATEGIES}
    header = " | ".join(
        f"{f:.0%} ({p / unit:g} evals)" for f, p in zip(FRACTIONS, points, strict=True)
    )
    lines = [
        f"### {fn.title}",
        "",
        f"Simple regret, median [quartiles] over {seeds} seeds, at a share of the common budget "
        f"({total:g} budget units = {total / unit:g} full-fidelity evaluations). "
        f"Plot: `docs/figures/{figure.name}`.",
        "",
        f"| strategy | {header} |",
        "|---|" + "---:|" * len(FRACTIONS),
        *(f"| {name} | " + " | ".join(_fmt(q) for q in at[name]) + " |" for name in STRATEGIES),
        "",
    ]
    lines += _goal_lines(results, at, grid, summaries, total)
    return lines


def _goal_lines(
    results: list[tuple[Job, dict[str, Curve], float]],
    at: dict[str, list[tuple[float, float, float] | None]],
    grid: np.ndarray,
    summaries: dict[str, list[tuple[float, float, float] | None]],
    total: float,
) -> list[str]:
    pairs = (
        (LADDER_TPE, "ladder + TPE", OPTUNA, "sequential"),
        (LADDER_TPE_ONE, "ladder + TPE (max_concurrency 1)", OPTUNA,
         "sequential, both one trial at a time"),
        (LADDER_TPE, "ladder + TPE", OPTUNA_PARALLEL, "at the same concurrency"),
    )  # fmt: skip
    against = [
        _against(ours, ours_label, theirs, label, at, results, total)
        for ours, ours_label, theirs, label in pairs
    ]
    final_random = at[RANDOM][-1]
    reach_line = "- (b) random search returned nothing within the budget."
    if final_random is not None:
        reached = first_reaching(grid, summaries[LADDER_TPE], final_random[1])
        if reached is None:
            reach_line = (
                f"- (b) ladder + TPE's median regret never reached random search's final median "
                f"({final_random[1]:.3g}) within the budget: goal (at most 1/3) missed."
            )
        else:
            share = reached / total
            reach_line = (
                f"- (b) ladder + TPE's median regret first reaches random search's final median "
                f"({final_random[1]:.3g}) at {share:.1%} of random search's compute: goal (at "
                f"most 33.3%) {'met' if share <= 1 / 3 else 'missed'}."
            )
    return [*against, reach_line, ""]


def _against(
    ours_name: str,
    ours_label: str,
    name: str,
    label: str,
    at: dict[str, list[tuple[float, float, float] | None]],
    results: list[tuple[Job, dict[str, Curve], float]],
    total: float,
) -> str:
    """Goal (a), one of our rows against one Optuna row: medians at each share, and per-seed
    wins at 100%."""
    verdicts = []
    for f, ours, theirs in zip(FRACTIONS, at[ours_name], at[name], strict=True):
        if ours is None or theirs is None:
            verdicts.append(f"{f:.0%}: not comparable (a strategy has returned nothing)")
        else:
            word = "matches or beats" if ours[1] <= theirs[1] else "loses to"
            verdicts.append(f"{f:.0%}: {ours[1]:.3g} vs {theirs[1]:.3g}, {word}")
    wins = sum(
        1
        for _, c, _ in results
        if (a := c[ours_name].at(total)) is not None
        and ((b := c[name].at(total)) is None or a <= b)
    )
    return (
        f"- (a) {ours_label} against Optuna TPE + Hyperband {label}, median regret at equal "
        "compute: "
        + "; ".join(verdicts)
        + f". Per seed at the full budget, {ours_label} is at least as good in {wins} of "
        f"{len(results)} seeds."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, the smallest ladder")
    parser.add_argument("--seeds", type=int, help="seeds per strategy (default 20, quick 3)")
    parser.add_argument("--scale", type=int, help="ladder size K (default 6, quick 1)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help="the sweep's max_concurrency, and Optuna's trials in flight (default 4)",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes (seeds in parallel)")
    parser.add_argument(
        "--functions", nargs="+", choices=sorted(FUNCTIONS), default=list(FUNCTIONS)
    )
    args = parser.parse_args(argv)
    seeds = args.seeds or (3 if args.quick else 20)
    scale = args.scale or (1 if args.quick else 6)

    # Interleaved by seed, so both functions progress alike on a shared machine.
    c = args.concurrency
    jobs = [Job(name, seed, scale, c) for seed in range(seeds) for name in args.functions]
    results: dict[str, list[tuple[Job, dict[str, Curve], float]]] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for done, result in enumerate(pool.map(run_job, jobs), start=1):
            job = result[0]
            results.setdefault(job.function, []).append(result)
            print(f"[{done}/{len(jobs)}] {job.function} seed {job.seed}", file=sys.stderr)

    ladder = make_ladder(scale)
    command = (
        "uv run python -m benchmarks.search.search_quality"
        + (" --quick" if args.quick else "")
        + (f" --seeds {args.seeds}" if args.seeds else "")
        + (f" --scale {args.scale}" if args.scale else "")
        + (f" --concurrency {c}" if c != DEFAULT_CONCURRENCY else "")
    )
    lines = [
        f"## Search quality at equal compute, simulated ({today()})",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}, shared with other jobs (the figures count budget units, "
        "not seconds, so machine load does not change them)",
        f"- ladder: eta {ETA}, budgets {', '.join(f'{b:g}' for b in BUDGETS)} (fidelity = "
        f"budget / {BUDGETS[-1]:g}); {ladder.trials} trials at rung 0, fresh TPE proposals "
        f"{', '.join(str(r.new_trials) for r in ladder.rungs[1:])} at rungs 1-3; entrants per "
        f"rung {ladder.entrants()}",
        f"- concurrency: c = {c} trials at once for the product (max_concurrency) and for the "
        "parallel Optuna row; the product once more at max_concurrency 1 (waves of one trial), "
        "like for like with Optuna's one trial at a time",
        "- strategies: ladder + TPE and ladder + random run the product's `propose`, "
        "`app.search.rungs` and `app.search.waves` in the workflow's order of calls "
        f"(`benchmarks/search/search_sim.py`): TPE proposes a rung's fresh trials in waves of c = {c}, "
        "wave k seeing this rung's results of waves <= k-2 (random proposes once per rung); "
        "the seed's behaviour proposes every fresh trial at its rung's boundary and pays each "
        "promotion's whole budget; Optuna is `TPESampler(seed)` with "
        "`HyperbandPruner(1, 27, 3)` reporting at the same budgets, study named after the "
        f"function and seed so runs repeat, one trial at a time and with c = {c} in flight "
        "(`TPESampler(constant_liar=True)`, time measured in budget units); random search "
        "trains every trial at full fidelity",
        "- noise-free functions (`benchmarks/search/mf_functions.py`); regret = full-fidelity value "
        "of the configuration each strategy would return at that point minus the known optimum",
        "",
    ]
    for name in args.functions:
        lines += function_report(FUNCTIONS[name], sorted(results[name], key=_seed), seeds)
    section = "\n".join(lines)
    prepend_section(section)
    print(section)


def _seed(result: tuple[Job, dict[str, Curve], float]) -> int:
    return result[0].seed


if __name__ == "__main__":
    main()
