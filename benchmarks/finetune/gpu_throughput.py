"""GPU fine-tuning throughput of one trial: bert-base-uncased shape, sequence length 128.

    uv run python -m benchmarks.finetune.gpu_throughput            # on a CUDA machine
    uv run python -m benchmarks.finetune.gpu_throughput --cpu-smoke  # anywhere: checks the path works

Not part of ``make bench`` (that runs on CPU machines): run it by hand on a GPU machine. The
defaults (batch 32, 20 warm-up and 5 x 30 timed steps per variant) are sized to finish in under
8 minutes on one H200; ``--pending`` writes the 'figures pending' section instead. Each
of four variants (fp32, bf16, each without and with ``torch.compile``) trains one trial
through ``workers.ml.train.fine_tune``, the function the ``train_and_evaluate`` activity trains
with, so the Trainer settings, the trial callback, checkpointing and the data path are the
product's own.

Nothing can be downloaded, so the model is ``BertForSequenceClassification(BertConfig())``
with random weights (``BertConfig()``'s defaults are bert-base-uncased's architecture: 12
layers, hidden 768, 12 heads, intermediate 3072, 512 positions, 30,522-token vocabulary)
saved with the bundled MiniLM tokenizer into a local model directory, which a sweep names
as ``model.source``. That tokenizer is BERT's uncased WordPiece vocabulary; the script checks
the facts it relies on (30,522 entries, lower-casing, the special tokens at bert-base-uncased's
ids) before it measures. Throughput does not depend on the weights' values.

Every training example is exactly 128 tokens: texts are built by joining tweets of the
bundled corpus until they exceed 128 tokens, and the product's tokenisation truncates them.
Timing starts after ``--warmup`` optimizer steps (compilation, allocator and kernel warm-up)
and covers ``--windows`` windows of ``--window-steps`` steps, with the GPU synchronised at each
window boundary only; the figure is the median window's samples per second, with the range.
Peak memory is ``torch.cuda.max_memory_allocated`` (and ``max_memory_reserved``) over the
whole trial run, from model load to the final checkpoint.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from app.domain import (
    DatasetSnapshot,
    DatasetSpec,
    ModelSpec,
    Objective,
    TrainingParams,
    TrialConfig,
    TrialJob,
)
from benchmarks.common.report import HEADER, HISTORY, prepend_section, today
from workers.ml.dataset_sources import bundled_tweet_csv
from workers.ml.features import quiet_progress_bars
from workers.ml.hooks import TrainingHooks, TrainingProgress
from workers.ml.snapshot import create_snapshot
from workers.ml.sources import bundled_minilm_dir
from workers.ml.train import fine_tune

TITLE = "GPU fine-tuning throughput"
PENDING_HEADING = f"## {TITLE} (pending)"
FULL_COMMAND = "uv run python -m benchmarks.finetune.gpu_throughput"
BERT_BASE_VOCAB = 30522
# bert-base-uncased's special-token ids: [PAD], [UNK], [CLS], [SEP], [MASK].
BERT_SPECIAL_IDS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}
TWEETS_PER_TEXT = 12  # tweets are short: 12 joined ones are well over 128 tokens


@dataclass(frozen=True)
class Variant:
    precision: Literal["fp32", "bf16"]  # TrainingParams.precision
    compile: bool

    @property
    def label(self) -> str:
        return f"{self.precision}{' + torch.compile' if self.compile else ''}"


@dataclass(frozen=True)
class Plan:
    batch_size: int
    max_length: int
    warmup: int
    window_steps: int
    windows: int
    variants: tuple[Variant, ...]

    @property
    def total_steps(self) -> int:
        return self.warmup + self.window_steps * self.windows

    def boundaries(self) -> list[int]:
        """Steps after which the clock is read: the end of warm-up, then each window's end."""
        return [self.warmup + i * self.window_steps for i in range(self.windows + 1)]


@dataclass(frozen=True)
class Measured:
    variant: Variant
    window_rates: list[float]  # samples per second, one per timed window
    peak_allocated: int  # bytes
    peak_reserved: int
    wall_seconds: float  # the whole fine_tune call: load, compile, train, checkpoint


def window_rates(marks: dict[int, float], boundaries: list[int], batch_size: int) -> list[float]:
    """Samples per second in each window between consecutive boundary steps."""
    rates = []
    for start, end in itertools.pairwise(boundaries):
        seconds = marks[end] - marks[start]
        rates.append((end - start) * batch_size / seconds)
    return rates


def step_clock(
    boundaries: list[int], sync: Callable[[], None]
) -> tuple[dict[int, float], Callable[[TrainingProgress], None]]:
    """A heartbeat hook that notes the time at each boundary step, once, after ``sync``."""
    wanted = set(boundaries)
    marks: dict[int, float] = {}

    def heartbeat(progress: TrainingProgress) -> None:
        if progress.step in wanted and progress.step not in marks:
            sync()  # kernels queued so far belong to the steps before this mark
            marks[progress.step] = time.perf_counter()

    return marks, heartbeat


def check_vocabulary(tokenizer_dir: Path) -> str:
    """The bundled tokenizer must be BERT uncased WordPiece for the shape to be bert-base's."""
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in BERT_SPECIAL_IDS}
    problems = []
    if len(tokenizer) != BERT_BASE_VOCAB:
        problems.append(f"{len(tokenizer)} tokens, not {BERT_BASE_VOCAB}")
    if ids != BERT_SPECIAL_IDS:
        problems.append(f"special tokens at {ids}")
    if tokenizer.tokenize("Hello") != ["hello"]:
        problems.append("does not lower-case")
    if problems:
        sys.exit(f"the bundled tokenizer is not BERT uncased WordPiece: {'; '.join(problems)}")
    return f"{len(tokenizer)} tokens, lower-cased, special tokens at bert-base-uncased's ids"


def write_model_dir(directory: Path, labels: int) -> None:
    """Random-init bert-base-uncased-shaped classifier plus the bundled tokenizer."""
    quiet_progress_bars()
    torch.manual_seed(0)
    config = BertConfig()  # bert-base-uncased's architecture
    config.num_labels = labels
    model = BertForSequenceClassification(config)
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(str(bundled_minilm_dir())).save_pretrained(directory)


def write_long_texts(path: Path, rows: int, max_length: int, tokenizer_dir: Path) -> int:
    """A CSV of ``rows`` texts, each longer than ``max_length`` tokens (labelled by the first
    tweet's sentiment), so that every example is truncated to exactly ``max_length``."""
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    with bundled_tweet_csv().open(encoding="latin-1", newline="") as handle:
        tweets = [(row["sentiment"], row["text"]) for row in csv.DictReader(handle)]
    random.Random(0).shuffle(tweets)  # the corpus is sorted by sentiment
    written = 0
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        for start in range(0, len(tweets) - TWEETS_PER_TEXT, TWEETS_PER_TEXT):
            group = tweets[start : start + TWEETS_PER_TEXT]
            text = " ".join(tweet for _, tweet in group)
            encoded = tokenizer(text, truncation=True, max_length=max_length + 1)
            if len(encoded["input_ids"]) <= max_length:
                continue
            writer.writerow([text, group[0][0]])
            written += 1
            if written == rows:
                break
    if written < rows:
        sys.exit(f"only {written} texts of over {max_length} tokens; wanted {rows}")
    return written


def make_job(
    variant: Variant, plan: Plan, snapshot: DatasetSnapshot, model_dir: Path, root: Path
) -> TrialJob:
    training = TrainingParams(
        learning_rate=2e-5,
        per_device_train_batch_size=plan.batch_size,
        max_length=plan.max_length,
        # Only the rung-end checkpoint, after the last timed step: none inside the timing.
        checkpoint_every_steps=plan.total_steps + 1,
        keep_checkpoints=1,
        precision=variant.precision,
        torch_compile=variant.compile,
    )
    # A sweep of its own per variant: a shared trial directory would resume the last one.
    sweep_id = "gpu-throughput-" + re.sub(r"[^a-z0-9]+", "-", variant.label.lower()).strip("-")
    return TrialJob(
        sweep_id=sweep_id,
        sweep_workflow_id=sweep_id,
        trial=TrialConfig(trial_index=0, params={}, seed=0),
        rung=0,
        budget=plan.total_steps,
        max_budget=plan.total_steps,
        unit="steps",
        model=ModelSpec(source=str(model_dir)),
        training=training,
        snapshot=snapshot,
        objective=Objective(),
        artifact_root=str(root),
    )


def measure(job: TrialJob, variant: Variant, plan: Plan, cuda: bool) -> Measured:
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    boundaries = plan.boundaries()
    marks, heartbeat = step_clock(boundaries, sync)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.monotonic()
    # heartbeat_seconds=0: the trial callback calls the hook at every step's end.
    outcome = fine_tune(job, TrainingHooks(heartbeat=heartbeat, heartbeat_seconds=0.0))
    wall = time.monotonic() - started
    if outcome.global_step != plan.total_steps or set(boundaries) - marks.keys():
        sys.exit(f"{variant.label}: stopped at step {outcome.global_step}, marks {sorted(marks)}")
    return Measured(
        variant=variant,
        window_rates=window_rates(marks, boundaries, plan.batch_size),
        peak_allocated=torch.cuda.max_memory_allocated() if cuda else 0,
        peak_reserved=torch.cuda.max_memory_reserved() if cuda else 0,
        wall_seconds=wall,
    )


def gib(size: int) -> str:
    return f"{size / 2**30:.2f}"


def results_section(plan: Plan, results: list[Measured], vocabulary: str, command: str) -> str:
    gpu = torch.cuda.get_device_name()
    machine = (
        f"{gpu}; {platform.machine()}, Python {platform.python_version()}, torch "
        f"{torch.__version__} (CUDA {torch.version.cuda}), float32 matmul precision "
        f"'{torch.get_float32_matmul_precision()}'"
    )
    lines = [
        f"## {TITLE} ({today()}, {gpu})",
        "",
        f"Command: `{command}`. Machine: {machine}.",
        "",
        f"One trial per variant through `workers.ml.train.fine_tune` (the `train_and_evaluate` "
        f"activity's training path): bert-base-uncased's architecture (`BertConfig()`, random weights, the "
        f"bundled uncased WordPiece tokenizer: {vocabulary}), 3 labels, batch {plan.batch_size}, "
        f"every example exactly {plan.max_length} tokens. Timed: {plan.windows} windows of "
        f"{plan.window_steps} optimizer steps after {plan.warmup} warm-up steps; samples/s is the "
        f"median window with the range. Peak memory over the whole run (load to final "
        f"checkpoint). The variants ran one after the other, once each, in the order listed.",
        "",
        "| variant | samples/s (median) | range over windows | peak allocated GiB | "
        "peak reserved GiB | whole run s |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.variant.label} | {statistics.median(r.window_rates):.1f} | "
            f"{min(r.window_rates):.1f}-{max(r.window_rates):.1f} | {gib(r.peak_allocated)} | "
            f"{gib(r.peak_reserved)} | {r.wall_seconds:.0f} |"
        )
    lines += [
        "",
        "The whole run includes model loading, tokenisation, compilation (for torch.compile) "
        "and the final checkpoint save; samples/s excludes all of them.",
    ]
    return "\n".join(lines)


def pending_section() -> str:
    return "\n".join(
        [
            PENDING_HEADING,
            "",
            "Figures pending: no GPU machine was available to this work yet. On a machine with "
            "one CUDA GPU, run",
            "",
            "```bash",
            "uv sync --frozen --all-extras",
            f"HF_HUB_OFFLINE=1 {FULL_COMMAND}",
            "```",
            "",
            "It trains one trial each in fp32 and bf16, without and with `torch.compile`, at "
            "sequence length 128 (bert-base-uncased's architecture, random weights, no download), "
            "is sized to finish in under 8 minutes on one H200 (it has not run on one yet), and "
            "replaces this section with samples per second and peak GPU memory for each variant, "
            "the date and the GPU's name.",
        ]
    )


def drop_pending_section() -> None:
    """A measured run supersedes the 'pending' note."""
    if not HISTORY.exists():
        return
    text = HISTORY.read_text()
    pattern = re.escape(PENDING_HEADING) + r"\n.*?(?=^## |\Z)"
    cleaned = re.sub(pattern, "", text, flags=re.DOTALL | re.MULTILINE)
    if cleaned != text:
        HISTORY.write_text(HEADER + cleaned.removeprefix(HEADER).lstrip())


def make_plan(args: argparse.Namespace) -> Plan:
    if args.cpu_smoke:
        return Plan(
            batch_size=4, max_length=32, warmup=2, window_steps=2, windows=2,
            variants=(Variant("fp32", compile=False),),
        )  # fmt: skip
    variants = (
        Variant("fp32", compile=False),
        Variant("bf16", compile=False),
        Variant("fp32", compile=True),
        Variant("bf16", compile=True),
    )
    return Plan(
        batch_size=args.batch_size, max_length=128, warmup=args.warmup,
        window_steps=args.window_steps, windows=args.windows, variants=variants,
    )  # fmt: skip


def command_line(args: argparse.Namespace) -> str:
    defaults = (args.batch_size, args.warmup, args.window_steps, args.windows) == (32, 20, 30, 5)
    if defaults:
        return FULL_COMMAND
    return (
        f"{FULL_COMMAND} --batch-size {args.batch_size} --warmup {args.warmup} "
        f"--window-steps {args.window_steps} --windows {args.windows}"
    )


def note(message: str, since: float) -> None:
    print(f"[{time.monotonic() - since:6.1f} s] {message}", file=sys.stderr, flush=True)


def run(plan: Plan, cuda: bool) -> tuple[list[Measured], str]:
    since = time.monotonic()
    vocabulary = check_vocabulary(bundled_minilm_dir())
    note(f"tokenizer: {vocabulary}", since)
    with tempfile.TemporaryDirectory(prefix="gpu-throughput-") as work:
        root = Path(work)
        model_dir = root / "bert-base-uncased-random"
        write_model_dir(model_dir, labels=3)
        note(f"model directory written: {model_dir}", since)
        train_rows = plan.total_steps * plan.batch_size  # one epoch: no short last batch
        rows = round(train_rows * 1.2)  # the snapshot holds out 10% for evaluation
        data = root / "long-tweets.csv"
        write_long_texts(data, rows, plan.max_length, model_dir)
        spec = DatasetSpec(source=str(data), max_train_samples=train_rows, max_eval_samples=64)
        snapshot = create_snapshot(spec, root / "snapshots")
        if snapshot.train_rows < train_rows:
            sys.exit(f"snapshot has {snapshot.train_rows} training rows; need {train_rows}")
        note(f"snapshot: {snapshot.train_rows} training rows of {plan.max_length} tokens", since)
        results = []
        for variant in plan.variants:
            note(f"{variant.label}: training {plan.total_steps} steps", since)
            job = make_job(variant, plan, snapshot, model_dir, root / "artifacts")
            result = measure(job, variant, plan, cuda)
            results.append(result)
            note(
                f"{variant.label}: {statistics.median(result.window_rates):.1f} samples/s "
                f"(windows {', '.join(f'{r:.1f}' for r in result.window_rates)}), peak "
                f"{gib(result.peak_allocated)} GiB allocated, run {result.wall_seconds:.0f} s",
                since,
            )
    return results, vocabulary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cpu-smoke", action="store_true",
        help="a few fp32 steps at length 32 on the CPU: checks the path; writes nothing",
    )  # fmt: skip
    parser.add_argument(
        "--pending", action="store_true",
        help="only write the 'figures pending' section to the history (no GPU at hand)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--window-steps", type=int, default=30)
    parser.add_argument("--windows", type=int, default=5)
    args = parser.parse_args(argv)

    if args.pending:
        prepend_section(pending_section())
        return 0
    cuda = torch.cuda.is_available()
    if not cuda and not args.cpu_smoke:
        print(
            "gpu_throughput: no CUDA GPU is visible (torch.cuda.is_available() is False). "
            "Run it on a GPU machine, or pass --cpu-smoke to check the path on the CPU "
            "(a few steps, nothing written).",
            file=sys.stderr,
        )
        return 2
    plan = make_plan(args)
    results, vocabulary = run(plan, cuda and not args.cpu_smoke)
    if args.cpu_smoke:
        print("cpu smoke: the path works; the history left unchanged", file=sys.stderr)
        return 0
    drop_pending_section()
    prepend_section(results_section(plan, results, vocabulary, command_line(args)))
    print(f"wrote the '{TITLE}' section to {HISTORY}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
