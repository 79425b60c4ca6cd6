"""Content-addressed dataset snapshots: normalised train and held-out splits, written once.

Every trial of a sweep trains and evaluates on the same bytes, whatever happens to the source
afterwards. The snapshot id hashes the source identity, the options that shape the splits, and
the content (file bytes, or the datasets fingerprint for hub datasets and directories), so
equal inputs map to one directory that is written once and then reused.

The snapshot root may be remote (``s3://...``, see ``storage``): a snapshot is then written in
the worker's scratch directory and uploaded with its metadata file last, and each worker that
trains or evaluates on it downloads it once into its own scratch (a cache: snapshots never
change).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from datasets import DatasetDict, load_from_disk

from app.domain import DatasetSnapshot, DatasetSpec
from workers.ml import storage
from workers.ml.dataset_sources import (
    DatasetSource,
    file_digest,
    load_splits,
    resolve_dataset,
    splits_fingerprint,
)
from workers.ml.errors import BadInputError
from workers.ml.features import quiet_progress_bars
from workers.ml.log_events import log_event
from workers.ml.normalise import EVAL_SPLIT, TRAIN_SPLIT, normalise_splits
from workers.ml.storage import Location

log = logging.getLogger(__name__)

# Bump when the normalised layout changes, so old snapshots are not mistaken for new ones.
SNAPSHOT_FORMAT = 1
METADATA_FILE = "snapshot.json"

Progress = Callable[[str], None]


def create_snapshot(
    spec: DatasetSpec,
    snapshot_root: Location,
    progress: Progress | None = None,
    scratch: Path | None = None,
) -> DatasetSnapshot:
    """Snapshot ``spec`` under ``snapshot_root/<id>/``, or reuse the one already there."""
    note = progress or (lambda _stage: None)
    quiet_progress_bars()
    source = resolve_dataset(spec)
    splits: DatasetDict | None = None
    if source.has_splits:
        note("loading")
        splits = load_splits(source)
        content = splits_fingerprint(splits)
    else:
        content = file_digest(source.location)
    snapshot_id = _snapshot_id(spec, source, content)
    final = storage.join(snapshot_root, snapshot_id)
    existing = read_snapshot(final)
    if existing is not None:
        log_event(log, "snapshot.reused", snapshot_id=snapshot_id, path=final)
        return existing

    note("loading")
    if splits is None:
        splits = load_splits(source)
    note("normalising")
    normalised, label_names = normalise_splits(spec, source, splits)
    snapshot = DatasetSnapshot(
        snapshot_id=snapshot_id,
        path=final,
        train_rows=len(normalised[TRAIN_SPLIT]),
        eval_rows=len(normalised[EVAL_SPLIT]),
        label_names=label_names,
        has_text_pair=source.text_pair_field is not None,
        source=spec.source,
    )
    note("writing")
    local = storage.local_path(final, scratch)
    _write_atomically(local, lambda tmp: _save(normalised, snapshot, tmp))
    if storage.is_remote(final):
        note("uploading")
        storage.put_dir(local, final, marker=METADATA_FILE)
    log_event(
        log,
        "snapshot.created",
        snapshot_id=snapshot_id,
        train_rows=snapshot.train_rows,
        eval_rows=snapshot.eval_rows,
        labels=",".join(label_names),
    )
    return read_snapshot(final) or snapshot


def read_snapshot(directory: Location) -> DatasetSnapshot | None:
    """The snapshot stored in ``directory``, or None when there is none (yet)."""
    text = storage.read_text(storage.join(directory, METADATA_FILE))
    if text is None:
        return None
    stored = DatasetSnapshot.model_validate_json(text)
    # The root may be mounted elsewhere on this worker: trust where we found it.
    return stored.model_copy(update={"path": storage.normalise(directory)})


def load_snapshot_splits(snapshot: DatasetSnapshot, scratch: Path | None = None) -> DatasetDict:
    local = storage.local_path(snapshot.path, scratch)
    if read_snapshot(local) is None:
        if not storage.is_remote(snapshot.path) or read_snapshot(snapshot.path) is None:
            raise BadInputError(f"snapshot {snapshot.snapshot_id!r}: nothing at {snapshot.path}")
        _write_atomically(
            local, lambda tmp: storage.get_dir(snapshot.path, tmp, marker=METADATA_FILE)
        )
        log_event(log, "snapshot.fetched", snapshot_id=snapshot.snapshot_id, to=local)
    loaded = load_from_disk(str(local))
    if not isinstance(loaded, DatasetDict):
        raise BadInputError(f"snapshot {snapshot.snapshot_id!r}: not a split dataset")
    return loaded


def _snapshot_id(spec: DatasetSpec, source: DatasetSource, content: str) -> str:
    options = spec.model_dump(
        exclude={"source", "config", "text_field", "text_pair_field", "label_field"}
    )
    key = {
        "format": SNAPSHOT_FORMAT,
        "source": source.identity(),
        "fields": [source.text_field, source.text_pair_field, source.label_field],
        "options": options,
        "content": content,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return f"ds-{digest[:24]}"


def _save(splits: DatasetDict, snapshot: DatasetSnapshot, directory: Path) -> None:
    splits.save_to_disk(str(directory))
    (directory / METADATA_FILE).write_text(snapshot.model_dump_json(indent=2))


def _write_atomically(final: Path, write: Callable[[Path], None]) -> None:
    """Fill a directory with ``write`` and publish it at ``final`` by one rename."""
    final.parent.mkdir(parents=True, exist_ok=True)
    # A sibling temp dir on the same filesystem, so the rename that publishes it is atomic:
    # readers see either no snapshot or a complete one, never a half-written directory.
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        write(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if read_snapshot(final) is None:
                raise
            # Another worker (or activity) published the same snapshot first: it is identical.
            log_event(log, "snapshot.lost_race", snapshot_id=final.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
