"""Snapshot rows -> model inputs: one tokenisation shared by training and evaluation."""

from __future__ import annotations

from typing import Any

import datasets
from datasets import Dataset
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging as transformers_logging


def tokenize(ds: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
    """Token ids and ``labels``, truncated to ``max_length``; padding is left to the collator.

    Kept in memory: the snapshot directory is shared and immutable, so no cache files may be
    written next to it.
    """
    has_pair = "text_pair" in ds.column_names

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        pairs = batch["text_pair"] if has_pair else None
        encoded = tokenizer(batch["text"], pairs, truncation=True, max_length=max_length)
        return {**encoded, "labels": batch["label"]}

    return ds.map(
        encode,
        batched=True,
        remove_columns=ds.column_names,
        keep_in_memory=True,
        load_from_cache_file=False,
        desc="tokenizing",
    )


def quiet_progress_bars() -> None:
    """Worker logs are one line per event: no tqdm bars for maps, saves and weight loading."""
    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
