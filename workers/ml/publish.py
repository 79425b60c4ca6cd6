"""Making each saved checkpoint durable in the artifact root before anybody hears of it.

With a local root the Trainer saves straight into the root: a checkpoint is durable once its
marker is written, and publishing is just pruning, on the training thread, as it always was.

With a remote root (``s3://...``) the Trainer saves into the worker's scratch directory and
the publisher uploads each checkpoint from a background thread while training goes on
(marker last), then prunes the root's old copies. Only then does the training thread hear of
it (``ready``, asked every step; ``flush`` at the end of the run) and report it: a heartbeat
or signal names only checkpoints that another machine can resume from. At most one upload is
in flight: when saving outpaces the store, the next save waits rather than queueing copies.
A failed upload is logged and skipped (the next checkpoint is tried again), except the last
one of the run, which fails the attempt so that a retry resumes from the last durable one.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from app.domain import CheckpointInfo
from workers.ml import storage
from workers.ml.checkpoints import MARKER_FILE, prune, size_bytes
from workers.ml.log_events import log_warning

log = logging.getLogger(__name__)


class CheckpointUploadError(RuntimeError):
    """The run's last checkpoint could not be made durable in the artifact root."""


@dataclass(frozen=True)
class Published:
    """A durable checkpoint, and what it took to get it there (for the log)."""

    checkpoint: CheckpointInfo
    pruned: int
    save_seconds: float | None
    size_bytes: int
    upload_seconds: float | None = None


class CheckpointPublisher:
    def __init__(
        self, local_dir: Path, durable_dir: str, keep: int, log_fields: dict[str, object]
    ) -> None:
        self.local_dir = local_dir
        self.durable_dir = durable_dir
        self.keep = keep
        self.log_fields = log_fields
        self.remote = storage.is_remote(durable_dir)
        self._uploads = (
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="checkpoint-upload")
            if self.remote
            else None
        )
        self._in_flight: concurrent.futures.Future[Published] | None = None
        self._last_failed: BaseException | None = None
        self._ready: list[Published] = []

    def publish(self, saved: CheckpointInfo, save_seconds: float | None) -> None:
        """``saved`` is complete (marked) in the local directory."""
        size = size_bytes(saved.path)
        if self._uploads is None:
            pruned = prune(self.local_dir, self.keep, protect=saved)
            self._ready.append(Published(saved, len(pruned), save_seconds, size))
            return
        self._collect(wait=True)
        # The scratch copy keeps as many as the root; the one uploading next is the newest.
        prune(self.local_dir, self.keep, protect=saved)
        self._in_flight = self._uploads.submit(self._upload, saved, save_seconds, size)

    def ready(self) -> list[Published]:
        """Checkpoints that became durable since the last call, oldest first; never waits."""
        self._collect(wait=False)
        done, self._ready = self._ready, []
        return done

    def flush(self) -> list[Published]:
        """Wait for the upload in flight; raise if the newest checkpoint is not durable."""
        self._collect(wait=True)
        if self._last_failed is not None:
            raise CheckpointUploadError(
                f"the last checkpoint could not be stored in {self.durable_dir}: "
                f"{self._last_failed!r}"
            ) from self._last_failed
        return self.ready()

    def close(self) -> None:
        """Let an upload in flight finish (a retry may resume from it), then stop the thread."""
        if self._uploads is not None:
            self._uploads.shutdown(wait=True)

    def _collect(self, wait: bool) -> None:
        future = self._in_flight
        if future is None or not (wait or future.done()):
            return
        self._in_flight = None
        try:
            self._ready.append(future.result())
            self._last_failed = None
        except Exception as exc:
            self._last_failed = exc
            log_warning(log, "checkpoint.upload_failed", **self.log_fields, error=repr(exc))

    def _upload(self, saved: CheckpointInfo, save_seconds: float | None, size: int) -> Published:
        started = time.perf_counter()
        target = storage.join(self.durable_dir, storage.name_of(saved.path))
        durable = saved.model_copy(update={"path": target})
        # Marker last. (Its copy names the scratch path: a marker's reader takes the path
        # from where it found it.)
        storage.put_dir(Path(saved.path), target, marker=MARKER_FILE)
        pruned = prune(self.durable_dir, self.keep, protect=durable)
        seconds = time.perf_counter() - started
        return Published(durable, len(pruned), save_seconds, size, seconds)
