"""Trial checkpoints: which are complete, which is latest, which to prune, where they live.

The Trainer writes ``checkpoint-<step>/`` in several steps (weights, optimizer, scheduler, RNG,
trainer state). A worker can die anywhere in between, so a checkpoint only counts once a
marker file, written after the Trainer has finished saving, exists. The marker holds the
checkpoint's ``CheckpointInfo`` so a restarted worker knows what it found.

Checkpoints are saved on local disk and kept in the artifact root (``storage``): with a local
root those are one directory; with a remote root (``s3://...``) the local one is the worker's
scratch copy, published to the root marker last (``publish.py``) and fetched back to resume.
Every function here takes either kind of location.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.domain import CheckpointInfo, TrialJob
from workers.ml import storage
from workers.ml.log_events import log_event
from workers.ml.storage import Location

log = logging.getLogger(__name__)

MARKER_FILE = "checkpoint-complete.json"
_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")
# What evaluation needs of a checkpoint: not the optimizer and the rest of the training state.
TRAINING_STATE = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*", "training_args.bin")


def trial_location(job: TrialJob) -> str:
    """The trial's directory in the artifact root: where its durable checkpoints live."""
    return storage.join(job.artifact_root, job.sweep_id, job.trial_id)


def trial_output_dir(job: TrialJob, scratch: Path | None = None) -> Path:
    """The local directory the Trainer saves the trial's checkpoints in: the trial's
    directory in the root itself when the root is local, else its copy in ``scratch``."""
    return storage.local_path(trial_location(job), scratch)


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return output_dir / f"checkpoint-{step}"


def size_bytes(path: str | Path) -> int:
    """Bytes on disk of one checkpoint directory (weights, optimizer state, ...)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def is_complete(location: Location) -> bool:
    return storage.is_file(storage.join(location, MARKER_FILE))


def mark_complete(info: CheckpointInfo) -> None:
    """Publish a finished checkpoint: the marker appears whole or not at all."""
    storage.write_text(storage.join(info.path, MARKER_FILE), info.model_dump_json())


def unmark(location: Location) -> None:
    """Withdraw a checkpoint before it is overwritten, so nobody trusts a half-rewritten one."""
    storage.remove(storage.join(location, MARKER_FILE))


def read_marker(location: Location) -> CheckpointInfo | None:
    text = storage.read_text(storage.join(location, MARKER_FILE))
    if text is None:
        return None
    try:
        info = CheckpointInfo.model_validate_json(text)
    except ValueError:
        return None
    # The trial directory may sit on a different mount on this worker, or be a copy.
    return info.model_copy(update={"path": storage.normalise(location)})


def _step_dirs(output_dir: Location) -> list[tuple[int, str]]:
    found = []
    for name in storage.subdirectories(output_dir):
        match = _CHECKPOINT_DIR.match(name)
        if match:
            found.append((int(match.group(1)), storage.join(output_dir, name)))
    return sorted(found, key=lambda pair: pair[0])


def complete_checkpoints(output_dir: Location) -> list[CheckpointInfo]:
    """Complete checkpoints in ``output_dir``, oldest first."""
    infos = [read_marker(path) for _, path in _step_dirs(output_dir)]
    return [info for info in infos if info is not None]


def latest_complete(output_dir: Location) -> CheckpointInfo | None:
    complete = complete_checkpoints(output_dir)
    return complete[-1] if complete else None


def remove_incomplete(output_dir: Location) -> list[str]:
    """Delete checkpoint directories a dead worker left half-written (or half-uploaded)."""
    removed = []
    for _, path in _step_dirs(output_dir):
        if not is_complete(path):
            storage.remove(path)
            removed.append(path)
    if removed:
        names = ",".join(storage.name_of(p) for p in removed)
        log_event(log, "checkpoint.removed_incomplete", dirs=names)
    return removed


def prune(output_dir: Location, keep: int, protect: CheckpointInfo | None = None) -> list[str]:
    """Keep the newest ``keep`` complete checkpoints (and ``protect``); delete older ones.

    Only complete checkpoints are pruned: a directory without a marker may be the one the
    Trainer is writing (or a worker uploading) right now.
    """
    complete = complete_checkpoints(output_dir)
    keep_paths = {info.path for info in complete[-keep:]}
    if protect is not None:
        keep_paths.add(storage.normalise(protect.path))
    removed = []
    for info in complete:
        if info.path not in keep_paths:
            # Unmark first: a crash halfway through the delete leaves an ignorable directory.
            unmark(info.path)
            storage.remove(info.path)
            removed.append(info.path)
    return removed


def fetch(location: Location, scratch: Path | None) -> Path:
    """A local directory holding the complete checkpoint at ``location``, to resume from.

    A local location is used where it is. A remote one is downloaded into ``scratch`` (marker
    last), unless a complete copy is there already (this worker saved or fetched it).
    """
    if not storage.is_remote(location):
        return Path(location)
    local = storage.local_path(location, scratch)
    if is_complete(local):
        return local
    storage.remove(local)
    storage.get_dir(location, local, marker=MARKER_FILE)
    log_event(log, "checkpoint.fetched", source=storage.normalise(location), to=local)
    return local


@contextmanager
def readable(location: Location, scratch: Path | None) -> Iterator[Path]:
    """A local directory with the checkpoint's weights and tokenizer, for reading only.

    The location itself when local, or a complete copy this worker has; otherwise a download
    without the training state (optimizer, scheduler, RNG) into a temporary directory under
    ``scratch``, deleted afterwards: evaluating leaves nothing behind on the worker.
    """
    if not storage.is_remote(location):
        yield Path(location)
        return
    local = storage.local_path(location, scratch)
    if is_complete(local):
        yield local
        return
    root = scratch or storage.default_scratch()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="read-", dir=root) as tmp:
        storage.get_dir(location, Path(tmp), marker=MARKER_FILE, exclude=TRAINING_STATE)
        log_event(log, "checkpoint.fetched", source=storage.normalise(location), to=tmp)
        yield Path(tmp)
