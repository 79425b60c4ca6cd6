"""Held-out metrics of one checkpoint: accuracy, macro-F1, mean cross-entropy."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score
from torch.utils.data import DataLoader
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
)

from app.domain import EvalInput, EvalOutcome, TrialMetrics
from workers.ml import storage
from workers.ml.checkpoints import is_complete, readable
from workers.ml.errors import BadInputError
from workers.ml.features import quiet_progress_bars, tokenize
from workers.ml.log_events import log_event
from workers.ml.normalise import EVAL_SPLIT
from workers.ml.snapshot import load_snapshot_splits

log = logging.getLogger(__name__)

# (examples done, examples total), called at most every few seconds.
EvalProgress = Callable[[int, int], None]
_PROGRESS_SECONDS = 5.0


def evaluate_checkpoint(
    inp: EvalInput, progress: EvalProgress | None = None, scratch: Path | None = None
) -> EvalOutcome:
    """Metrics of ``inp.checkpoint`` on the snapshot's held-out split. A checkpoint in a
    remote artifact root is read through a temporary copy under ``scratch``."""
    quiet_progress_bars()
    started = time.monotonic()
    location = inp.checkpoint.path
    if not storage.is_dir(location):
        raise BadInputError(f"checkpoint {location!r}: no such directory")
    if not is_complete(location):
        raise BadInputError(f"checkpoint {location!r}: incomplete (no completion marker)")
    held_out = load_snapshot_splits(inp.snapshot, scratch)[EVAL_SPLIT]
    with readable(location, scratch) as path:
        # Checkpoints carry their tokenizer, so a checkpoint evaluates the same on any worker.
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch.float32)
    if model.config.num_labels != inp.snapshot.num_labels:
        raise BadInputError(
            f"checkpoint {location!r} has {model.config.num_labels} labels, snapshot "
            f"{inp.snapshot.snapshot_id!r} has {inp.snapshot.num_labels}"
        )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    features = tokenize(held_out, tokenizer, inp.max_length)
    loader = DataLoader(
        features,
        batch_size=inp.batch_size,
        shuffle=False,
        collate_fn=DataCollatorWithPadding(tokenizer),
    )
    total = len(features)
    loss_sum = 0.0
    labels: list[int] = []
    predictions: list[int] = []
    last_note = time.monotonic()
    with torch.inference_mode():
        for batch in loader:
            batch = {key: value.to(device) for key, value in batch.items()}
            targets = batch.pop("labels")
            logits = model(**batch).logits.float()
            loss_sum += F.cross_entropy(logits, targets, reduction="sum").item()
            labels.extend(targets.tolist())
            predictions.extend(logits.argmax(dim=-1).tolist())
            if progress is not None and time.monotonic() - last_note >= _PROGRESS_SECONDS:
                last_note = time.monotonic()
                progress(len(labels), total)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    metrics = TrialMetrics(
        accuracy=float(accuracy_score(labels, predictions)),
        f1_macro=float(f1_score(labels, predictions, average="macro", zero_division=0)),
        eval_loss=loss_sum / max(len(labels), 1),
        num_examples=len(labels),
    )
    seconds = time.monotonic() - started
    log_event(
        log,
        "evaluate.done",
        checkpoint=location,
        step=inp.checkpoint.step,
        rung=inp.checkpoint.rung,
        accuracy=metrics.accuracy,
        f1_macro=metrics.f1_macro,
        eval_loss=metrics.eval_loss,
        examples=metrics.num_examples,
        seconds=seconds,
    )
    return EvalOutcome(metrics=metrics, eval_seconds=seconds)
