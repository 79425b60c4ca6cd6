"""What checkpoint continuation saves: the demo ladder with promotions continuing from their
checkpoints, against the same ladder retraining promoted trials from scratch.

    uv run python -m benchmarks.finetune.checkpoint_savings [--quick]

Both ladders run in this process through the product's train_and_evaluate activity
(``benchmarks.finetune.inprocess_ladder``) on the same proposals; steps are counted per run as the
global step reached minus the step it resumed from. ``--quick`` runs the tiny preset (random
-init 2-layer BERT); the default is the demo preset (pretrained MiniLM-L6).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from app.presets import PresetName, preset
from benchmarks.common.report import machine, prepend_section, today
from benchmarks.finetune.inprocess_ladder import InProcessLadder, LadderRun
from benchmarks.finetune.step_ledger import (
    ladder_entrants,
    planned_steps,
    ratio,
    steps_by_rung,
    total_steps,
)


def best_accuracy(run: LadderRun) -> float:
    best = run.best
    return best.metrics.accuracy if best and best.metrics else float("nan")


def best_label(run: LadderRun) -> str:
    best = run.best
    return f"{best.trial_id} (rung {best.rung})" if best else "-"


def section(preset_name: PresetName, command: str, cont: LadderRun, scratch: LadderRun) -> str:
    request = preset(preset_name)
    ladder = request.ladder
    budgets = [int(r.budget) for r in ladder.rungs]
    entrants = ladder_entrants(ladder.trials, [r.keep for r in ladder.rungs])
    steps_c, steps_s = total_steps(cont.runs), total_steps(scratch.runs)
    acc_c, acc_s = best_accuracy(cont), best_accuracy(scratch)
    verdict = "not worse" if acc_c >= acc_s else "WORSE"
    by_rung_c, by_rung_s = steps_by_rung(cont.runs), steps_by_rung(scratch.runs)
    rows = [
        f"| {r} | {budgets[r]} | {entrants[r]} | {by_rung_c.get(r, 0)} | {by_rung_s.get(r, 0)} |"
        for r in range(len(budgets))
    ]
    lines = [
        f"## What checkpoint continuation saves: `--preset {preset_name}` ladder ({today()})",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}; shared with other jobs while it ran",
        f"- ladder: {request.model.source}, {ladder.trials} trials, rungs "
        f"{'/'.join(map(str, budgets))} steps, entrants {'/'.join(map(str, entrants))}; "
        f"{request.strategy} proposals seeded with sweep seed {request.seed}, the same "
        "configurations in both variants",
        "- how: both ladders run in one process through the product's train_and_evaluate "
        "activity (`ActivityEnvironment`), entrants, waves and promotions by `app.search.ladder` as in the service; "
        "'continue' resumes each promoted trial from its checkpoint as the service does, "
        "'scratch' retrains it from step 0 in an empty trial directory. Steps trained = global "
        "step reached minus the step the run resumed from (its first heartbeat).",
        f"- total steps trained: continue **{steps_c}**, scratch **{steps_s}**; "
        f"ratio continue/scratch **{ratio(steps_c, steps_s):.3f}** "
        f"(planned from the ladder: {planned_steps(budgets, entrants, 'continue')} vs "
        f"{planned_steps(budgets, entrants, 'scratch')})",
        f"- best held-out accuracy: continue **{acc_c:.4f}** ({best_label(cont)}), scratch "
        f"**{acc_s:.4f}** ({best_label(scratch)}): continuing is {verdict}",
        f"- wall time of each ladder (training + evaluation, one process, run one after the "
        f"other): continue {cont.wall_seconds:.0f} s (training {cont.train_seconds:.0f} s), "
        f"scratch {scratch.wall_seconds:.0f} s (training {scratch.train_seconds:.0f} s)",
        "",
        "| rung | budget (steps) | entrants | steps trained, continue | steps trained, scratch |",
        "|---:|---:|---:|---:|---:|",
        *rows,
        f"| all | | | {steps_c} | {steps_s} |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the tiny preset's ladder")
    args = parser.parse_args()
    preset_name: PresetName = "tiny" if args.quick else "default"
    request = preset(preset_name)
    with tempfile.TemporaryDirectory(prefix="bench-ckpt-") as tmp:
        ladder = InProcessLadder(request, Path(tmp))
        print(f"snapshot of {request.dataset.source} ...", file=sys.stderr, flush=True)
        ladder.snapshot()
        runs = {}
        for promotion in ("continue", "scratch"):
            print(f"ladder, promotions: {promotion}", file=sys.stderr, flush=True)
            runs[promotion] = ladder.run(promotion)
    command = "uv run python -m benchmarks.finetune.checkpoint_savings" + (
        " --quick" if args.quick else ""
    )
    text = section(preset_name, command, runs["continue"], runs["scratch"])
    prepend_section(text)
    print(text)


if __name__ == "__main__":
    main()
