"""Trial checkpoints on disk: which are complete, which is latest, which to prune.

The Trainer writes ``checkpoint-<step>/`` in several steps (weights, optimizer, scheduler, RNG,
trainer state). A worker can die anywhere in between, so a checkpoint only counts once a
marker file, written after the Trainer has finished saving, exists. The marker holds the
checkpoint's ``CheckpointInfo`` so a restarted worker knows what it found.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from app.domain import CheckpointInfo, TrialJob
from workers.ml.events import log_event

log = logging.getLogger(__name__)

MARKER_FILE = "checkpoint-complete.json"
_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")


def trial_output_dir(job: TrialJob) -> Path:
    return Path(job.artifact_root) / job.sweep_id / job.trial_id


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return output_dir / f"checkpoint-{step}"


def size_bytes(path: str | Path) -> int:
    """Bytes on disk of one checkpoint directory (weights, optimizer state, ...)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def is_complete(path: str | Path) -> bool:
    return (Path(path) / MARKER_FILE).is_file()


def mark_complete(info: CheckpointInfo) -> None:
    """Publish a finished checkpoint: write the marker to a temp name, then rename it in."""
    directory = Path(info.path)
    tmp = directory / f".{MARKER_FILE}.tmp"
    tmp.write_text(info.model_dump_json())
    os.replace(tmp, directory / MARKER_FILE)


def unmark(path: str | Path) -> None:
    """Withdraw a checkpoint before it is overwritten, so nobody trusts a half-rewritten one."""
    (Path(path) / MARKER_FILE).unlink(missing_ok=True)


def read_marker(path: str | Path) -> CheckpointInfo | None:
    marker = Path(path) / MARKER_FILE
    try:
        info = CheckpointInfo.model_validate_json(marker.read_text())
    except (OSError, ValueError):
        return None
    # The trial directory may sit on a different mount on this worker.
    return info.model_copy(update={"path": str(Path(path))})


def _step_dirs(output_dir: Path) -> list[tuple[int, Path]]:
    if not output_dir.is_dir():
        return []
    found = []
    for entry in output_dir.iterdir():
        match = _CHECKPOINT_DIR.match(entry.name)
        if match and entry.is_dir():
            found.append((int(match.group(1)), entry))
    return sorted(found, key=lambda pair: pair[0])


def complete_checkpoints(output_dir: Path) -> list[CheckpointInfo]:
    """Complete checkpoints in ``output_dir``, oldest first."""
    infos = [read_marker(path) for _, path in _step_dirs(output_dir)]
    return [info for info in infos if info is not None]


def latest_complete(output_dir: Path) -> CheckpointInfo | None:
    complete = complete_checkpoints(output_dir)
    return complete[-1] if complete else None


def remove_incomplete(output_dir: Path) -> list[Path]:
    """Delete checkpoint directories a dead worker left half-written."""
    removed = []
    for _, path in _step_dirs(output_dir):
        if not is_complete(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        log_event(log, "checkpoint.removed_incomplete", dirs=",".join(p.name for p in removed))
    return removed


def prune(output_dir: Path, keep: int, protect: CheckpointInfo | None = None) -> list[Path]:
    """Keep the newest ``keep`` complete checkpoints (and ``protect``); delete older ones.

    Only complete checkpoints are pruned: a directory without a marker may be the one the
    Trainer is writing right now.
    """
    complete = complete_checkpoints(output_dir)
    keep_paths = {Path(info.path) for info in complete[-keep:]}
    if protect is not None:
        keep_paths.add(Path(protect.path))
    removed = []
    for info in complete:
        path = Path(info.path)
        if path not in keep_paths:
            # Unmark first: a crash halfway through rmtree leaves an ignorable directory.
            unmark(path)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
