"""Search quality of real fine-tuning at equal training steps: this service against Optuna.

    uv run python -m benchmarks.finetune.finetune_quality [--quick] [--seeds N]

- This product: a random-init 2-layer BERT (``tiny-bert``) on the bundled tweet corpus,
  through the whole stack (Temporal dev server, both workers, the API): a SweepRequest with
  a ladder in steps (eta 3) and the TPE strategy is submitted with ``SweepsClient`` and
  followed to its end; its best held-out accuracy is that of the best trial of the top rung,
  its training steps are counted from the trials' rung results.
- The peer: Optuna's TPESampler with its HyperbandPruner, in this process, training with the
  product's own training code and a pruning callback (``benchmarks.finetune.finetune_optuna``), on
  the same model, data snapshot, held-out split, space and budgets, until it has trained as
  many steps as the product's sweep of the same seed did.

Seeds run interleaved (product, peer, product, peer ...) so that load on the shared machine
falls on both alike; one stack serves every product sweep.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

from app.cli.embedded import EmbeddedStack, free_port
from app.client import SweepsClient
from app.domain import SweepRequest, SweepResult, SweepStatus
from app.domain.request import DatasetSpec, ModelSpec, Objective
from app.domain.space import FloatParam, SweepSpace
from app.domain.training_params import TrainingParams
from app.settings import Settings
from benchmarks.common.report import machine, prepend_section, today
from benchmarks.finetune.finetune_accounting import (
    evaluations,
    ladder,
    spread,
    top_rung_best,
    trained_steps,
    verdict,
)
from benchmarks.finetune.finetune_optuna import PeerRun, run_peer


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What one sweep (and its peer run) costs: data, ladder and seeds."""

    train_samples: int
    eval_samples: int
    trials: int
    first_budget: int
    rungs: int
    new_trials: int
    seeds: int


# The random-init tiny BERT stays at the majority class for its first ~60 steps (measured
# here: 0.47 held-out accuracy after 100 steps at learning rate 3e-3, 0.58 after 300), so
# the full ladder's top budget is 270 steps; quick only checks that everything runs.
FULL = Sizes(train_samples=2000, eval_samples=400, trials=9, first_budget=30, rungs=3,
             new_trials=3, seeds=3)  # fmt: skip
QUICK = Sizes(train_samples=800, eval_samples=200, trials=3, first_budget=10, rungs=2,
              new_trials=1, seeds=1)  # fmt: skip
ETA = 3


@dataclasses.dataclass(frozen=True)
class ProductRun:
    seed: int
    sweep_id: str
    status: SweepStatus
    wall_seconds: float
    steps: int
    evaluations: int
    trials: int
    best_accuracy: float
    best_trial: str


def sweep_request(sizes: Sizes, seed: int) -> SweepRequest:
    return SweepRequest(
        name=f"finetune-quality-{seed}",
        model=ModelSpec(source="tiny-bert"),
        dataset=DatasetSpec(
            source="tweet-sentiment",
            max_train_samples=sizes.train_samples,
            max_eval_samples=sizes.eval_samples,
        ),
        space=SweepSpace(
            {
                "learning_rate": FloatParam(low=3e-4, high=1e-2, log=True),
                "weight_decay": FloatParam(low=0.0, high=0.1),
                "warmup_ratio": FloatParam(low=0.0, high=0.2),
            }
        ),
        training=TrainingParams(
            per_device_train_batch_size=16,
            max_length=32,
            # Saves at rung ends only (the top budget is a multiple of every rung's).
            checkpoint_every_steps=sizes.first_budget * ETA ** (sizes.rungs - 1),
        ),
        objective=Objective(metric="accuracy"),
        ladder=ladder(sizes.trials, sizes.first_budget, sizes.rungs, ETA, sizes.new_trials),
        strategy="tpe",
        max_concurrency=2,
        seed=seed,
    )


def run_product(client: SweepsClient, request: SweepRequest) -> ProductRun:
    started = time.monotonic()
    created = client.submit(request)
    result: SweepResult = client.wait(created.sweep_id, progress=False)
    wall = time.monotonic() - started
    for trial in result.trials:
        params = ", ".join(f"{k}={v:.3g}" for k, v in trial.params.items() if isinstance(v, float))
        rungs = ", ".join(f"{r.metrics.accuracy:.3f}@{r.global_step}" for r in trial.rungs)
        note(f"  product trial {trial.trial_id} ({params}): {trial.status}; {rungs}")
    top = len(request.ladder.rungs) - 1
    return ProductRun(
        seed=request.seed,
        sweep_id=created.sweep_id,
        status=result.status,
        wall_seconds=wall,
        steps=trained_steps(result),
        evaluations=evaluations(result),
        trials=len(result.trials),
        best_accuracy=top_rung_best(result, top),
        best_trial=result.best.trial_id if result.best else "-",
    )


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_all(sizes: Sizes, seeds: list[int]) -> list[tuple[ProductRun, PeerRun]]:
    pairs = []
    with tempfile.TemporaryDirectory(prefix="finetune-quality-") as state:
        stack = EmbeddedStack(
            Settings(data_dir=Path(state)),
            temporal_port=free_port(),
            ui_port=free_port(),
            api_port=free_port(),
        )
        with stack, SweepsClient(stack.api_url, stack.admin_token, timeout=60) as client:
            for seed in seeds:
                request = sweep_request(sizes, seed)
                product = run_product(client, request)
                note(
                    f"seed {seed} product: {product.status}, best {product.best_accuracy:.4f}, "
                    f"{product.steps} steps, {product.wall_seconds:.0f} s"
                )
                if product.status != SweepStatus.COMPLETED:
                    sys.exit(f"sweep {product.sweep_id} ended {product.status}; see {state}")
                peer = run_peer(request, seed, product.steps)
                note(
                    f"seed {seed} optuna: best {peer.best_accuracy:.4f}, {peer.steps} steps, "
                    f"{len(peer.trials)} trials, {peer.wall_seconds:.0f} s"
                )
                pairs.append((product, peer))
    return pairs


def section(sizes: Sizes, argv: list[str], pairs: list[tuple[ProductRun, PeerRun]]) -> str:
    products = [p for p, _ in pairs]
    peers = [o for _, o in pairs]
    ours = spread([p.best_accuracy for p in products])
    theirs = spread([o.best_accuracy for o in peers])
    request = sweep_request(sizes, 0)
    budgets = ", ".join(f"{r.budget:g}" for r in request.ladder.rungs)
    fresh = ", ".join(str(r.new_trials) for r in request.ladder.rungs[1:])
    majority = peers[0].majority_share
    command = " ".join(["uv run python -m benchmarks.finetune.finetune_quality", *argv])
    quick = "--quick" in argv
    rows = [
        f"| {p.seed} | {p.best_accuracy:.4f} | {o.best_accuracy:.4f} | {p.steps} | {o.steps} "
        f"| {p.trials} | {len(o.trials)} ({o.count('complete')} complete, {o.count('pruned')} "
        f"pruned, {o.count('cut')} cut) | {p.evaluations} | {o.evaluations} "
        f"| {p.wall_seconds:.0f} | {o.wall_seconds:.0f} |"
        for p, o in pairs
    ]
    return "\n".join(
        [
            f"## Fine-tuning search quality at equal training steps{' (quick)' if quick else ''}"
            f" ({today()})",
            "",
            f"- command: `{command}`",
            f"- machine: {machine()}; product and Optuna runs interleaved seed by seed, so "
            "whatever else loads the machine falls on both",
            f"- task: random-init 2-layer BERT (`tiny-bert`) on the bundled tweet corpus, "
            f"{sizes.train_samples} training / {sizes.eval_samples} held-out tweets, batch 16, "
            "length 32; space: learning rate 3e-4..1e-2 (log), weight decay 0..0.1, warmup "
            "ratio 0..0.2",
            f"- this product: full stack (dev server, workers, API), strategy `tpe`, ladder of "
            f"{sizes.trials} trials, budgets {budgets} steps, eta {ETA}, fresh proposals at "
            f"later rungs {fresh} (TPE proposes each rung's fresh trials in waves of "
            "max_concurrency, each wave seeing the rung's results two waves back; it needs 5 "
            "results of a rung to fit, so most rung-0 trials are random here); max_concurrency "
            "2, one training worker; best = best trial of the top rung",
            "- Optuna: TPESampler + HyperbandPruner (min/max resource the first/top budget, "
            f"reduction factor {ETA}), trials in sequence in one process, the product's "
            "Trainer setup, model, snapshot and evaluation, a TrainerCallback that evaluates "
            "at the budgets, reports and stops when pruned; it runs until it has trained the "
            "product's steps of the same seed (the last trial is cut there); best = best "
            "complete trial (trained to the top budget)",
            "- steps: the product's from its trials' rung results (a promoted trial continues "
            "from its checkpoint: only the extra steps count); wall time: submit to result "
            "for the product, study start (with its snapshot) to end for Optuna",
            f"- best held-out accuracy, median (range) over {len(pairs)} seed(s): this product "
            f"{ours.text()}, Optuna TPE + Hyperband {theirs.text()}; majority class "
            f"{majority:.4f}",
            f"- training steps, median: this product "
            f"{spread([p.steps for p in products]).median:.0f}, Optuna "
            f"{spread([o.steps for o in peers]).median:.0f}",
            f"- wall time, median (range): this product "
            f"{spread([p.wall_seconds for p in products]).text(0)} s, Optuna "
            f"{spread([o.wall_seconds for o in peers]).text(0)} s",
            f"- goal (match or beat Optuna TPE + Hyperband at equal training steps): "
            f"{verdict(ours, theirs, majority)}",
            "",
            "| seed | product best | Optuna best | product steps | Optuna steps "
            "| product trials | Optuna trials | product evals | Optuna evals "
            "| product wall (s) | Optuna wall (s) |",
            "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )


def resize(sizes: Sizes, args: argparse.Namespace) -> Sizes:
    """``sizes`` with whatever the command line overrides."""
    chosen = {
        name: getattr(args, name)
        for name in ("seeds", "trials", "first_budget", "rungs", "new_trials", "train_samples")
        if getattr(args, name) is not None
    }
    return dataclasses.replace(sizes, **chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, a smaller ladder")
    parser.add_argument("--seeds", type=int, help="seeds per side (default 3, quick 1)")
    # Smaller forms of the full run, for a machine too busy for it (the section says which).
    parser.add_argument("--trials", type=int, help="first-rung trials (default 9)")
    parser.add_argument("--first-budget", type=int, help="first rung's steps (default 30)")
    parser.add_argument("--rungs", type=int, help="rungs, budgets growing by 3 (default 3)")
    parser.add_argument("--new-trials", type=int, help="fresh proposals per later rung")
    parser.add_argument("--train-samples", type=int, help="training tweets (default 2000)")
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sizes = resize(QUICK if args.quick else FULL, args)
    seeds = list(range(sizes.seeds))
    started = time.monotonic()
    pairs = run_all(sizes, seeds)
    note(f"done in {time.monotonic() - started:.0f} s")
    text = section(sizes, argv, pairs)
    prepend_section(text)
    print(text)


if __name__ == "__main__":
    main()
