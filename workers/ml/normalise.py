"""Source splits -> snapshot splits: columns ``text`` / ``text_pair`` / ``label`` (ClassLabel),
a held-out split, seeded shuffles and sample caps."""

from __future__ import annotations

import logging
from typing import Any

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from app.domain import DatasetSpec
from workers.ml.dataset_sources import DatasetSource
from workers.ml.errors import BadInputError
from workers.ml.log_events import log_event

log = logging.getLogger(__name__)

TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"


def normalise_splits(
    spec: DatasetSpec, source: DatasetSource, splits: DatasetDict
) -> tuple[DatasetDict, list[str]]:
    if spec.train_split not in splits:
        raise BadInputError(
            f"dataset.train_split {spec.train_split!r}: no such split; splits: "
            + ", ".join(sorted(splits))
        )
    train = splits[spec.train_split]
    held_out = splits[spec.eval_split] if spec.eval_split and spec.eval_split in splits else None
    for name, ds in [(spec.train_split, train), (spec.eval_split, held_out)]:
        if ds is not None:
            _check_columns(source, ds, name or "")

    label_names, to_index = _label_mapping(source, [d for d in (train, held_out) if d is not None])
    train = _to_columns(source, train, label_names, to_index)
    if held_out is None:
        if len(train) < 2:
            raise BadInputError(f"dataset.source {spec.source!r}: too few rows to hold any out")
        parts = train.train_test_split(test_size=spec.holdout_fraction, seed=spec.split_seed)
        train, held_out = parts["train"], parts["test"]
    else:
        held_out = _to_columns(source, held_out, label_names, to_index)
    # Shuffle before capping: sources are often sorted (the tweet CSV is sorted by label).
    train = _cap(train.shuffle(seed=spec.split_seed), spec.max_train_samples)
    held_out = _cap(held_out.shuffle(seed=spec.split_seed), spec.max_eval_samples)
    if len(train) == 0 or len(held_out) == 0:
        raise BadInputError(
            f"dataset.source {spec.source!r}: empty split (train {len(train)} rows, "
            f"held out {len(held_out)} rows)"
        )
    return DatasetDict({TRAIN_SPLIT: train, EVAL_SPLIT: held_out}), label_names


def _check_columns(source: DatasetSource, ds: Dataset, split: str) -> None:
    wanted = {
        "dataset.text_field": source.text_field,
        "dataset.text_pair_field": source.text_pair_field,
        "dataset.label_field": source.label_field,
    }
    for option, column in wanted.items():
        if column is not None and column not in ds.column_names:
            raise BadInputError(
                f"{option} {column!r}: no such column in split {split!r} of "
                f"{source.location!r}; columns: " + ", ".join(ds.column_names)
            )


def _label_mapping(
    source: DatasetSource, parts: list[Dataset]
) -> tuple[list[str], dict[Any, int] | None]:
    """Label names, and a value -> index map (None when the labels are a ClassLabel already)."""
    feature = parts[0].features[source.label_field]
    if isinstance(feature, ClassLabel):
        return list(feature.names), None
    values = {_label_value(v) for ds in parts for v in ds.unique(source.label_field)}
    values.discard(None)
    if not values:
        raise BadInputError(f"dataset.label_field {source.label_field!r}: no labels")
    if len(values) < 2:
        raise BadInputError(
            f"dataset.label_field {source.label_field!r}: one distinct label ({values.pop()!r}); "
            "classification needs at least two"
        )
    if all(isinstance(v, int) for v in values):
        ordered: list[Any] = sorted(values)
    else:
        ordered = sorted(values, key=str)
    return [str(v) for v in ordered], {v: i for i, v in enumerate(ordered)}


def _label_value(value: Any) -> Any:
    """Labels as ints when they are whole numbers (CSV readers turn 1 into 1.0 beside blanks)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _to_columns(
    source: DatasetSource, ds: Dataset, label_names: list[str], to_index: dict[Any, int] | None
) -> Dataset:
    pair = source.text_pair_field
    columns: dict[str, Any] = {"text": Value("string")}
    if pair is not None:
        columns["text_pair"] = Value("string")
    columns["label"] = ClassLabel(names=label_names)

    def convert(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"text": [_text(t) for t in batch[source.text_field]]}
        if pair is not None:
            out["text_pair"] = [_text(t) for t in batch[pair]]
        labels = batch[source.label_field]
        if to_index is None:
            out["label"] = labels
        else:
            out["label"] = [to_index.get(_label_value(v), -1) for v in labels]
        return out

    converted = ds.map(
        convert,
        batched=True,
        remove_columns=ds.column_names,
        features=Features(columns),
        keep_in_memory=True,
        desc="normalising",
    )
    kept = converted.filter(
        lambda b: [y >= 0 for y in b["label"]], batched=True, keep_in_memory=True
    )
    dropped = len(converted) - len(kept)
    if dropped:
        log_event(log, "snapshot.rows_without_label", dropped=dropped, source=source.location)
    return kept


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _cap(ds: Dataset, limit: int | None) -> Dataset:
    return ds.select(range(min(limit, len(ds)))) if limit is not None else ds
