"""Keeping the embedded stack's child processes from outliving their supervisor.

Two layers, because neither covers every case alone: on Linux a child asks the kernel for
SIGTERM when the supervisor dies (``die_with_parent``), even of SIGKILL; and the supervisor
records what it started in the data directory (``ChildRecord``), so the next start of the
same directory stops whatever is left (a platform without the first layer, a child that
ignored its signal, or one still shutting down). A recorded process is signalled only if it
is still the same process: same pid, same boot, same start time.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

RECORD_NAME = "stack-children.json"
LOCK_NAME = "stack.lock"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class DataDirInUse(RuntimeError):
    """Another live supervisor holds the data directory."""


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive SIGTERM when the thread that started it
    exits (the kernel's rule: start children from the main thread), or None where the kernel
    offers no such thing."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        # Looked up before the fork: the child should run as little Python as possible.
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died before the request was in place
            os._exit(1)

    return preexec


@dataclass(frozen=True)
class Recorded:
    name: str
    pid: int
    # Boot id and start time in clock ticks: a pid reused by another process differs here.
    started: str


def started(pid: int) -> str | None:
    """The start identity of a running process; None if it is gone (a zombie counts as gone)
    or cannot be known here (no /proc), so it is never signalled."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    # The command name in parentheses may hold spaces: the fields start after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    state, start_ticks = fields[0], fields[19]
    return None if state in ("Z", "X") else f"{boot}:{start_ticks}"


class ChildRecord:
    """The children of the supervisor holding ``data_dir``'s lock, in start order."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / RECORD_NAME
        self._lock_path = data_dir / LOCK_NAME
        self._lock: IO[str] | None = None

    def acquire(self) -> None:
        """Take the data directory; a supervisor killed outright releases it with its life."""
        import fcntl

        handle = self._lock_path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DataDirInUse(
                f"another stack runs on {self._lock_path.parent} (pid {holder}): stop it "
                "first, or choose another --data-dir"
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def release(self) -> None:
        if self._lock is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._lock.close()  # closing the descriptor drops the lock
        self._lock = None

    def write(self, children: Iterable[tuple[str, int]]) -> None:
        entries = [Recorded(name, pid, started(pid) or "") for name, pid in children]
        staged = self.path.with_suffix(".tmp")
        staged.write_text(json.dumps([asdict(entry) for entry in entries]))
        staged.replace(self.path)  # a reader never sees half a list

    def leftovers(self) -> list[Recorded]:
        """Recorded children still running as the same processes."""
        try:
            entries = [Recorded(**entry) for entry in json.loads(self.path.read_text())]
        except (OSError, ValueError, TypeError):
            return []
        return [e for e in entries if e.started and started(e.pid) == e.started]

    def stop_leftovers(self, timeout: float = 30) -> list[Recorded]:
        """Stop what a previous supervisor of this directory left running, in the order it
        stops its own children (workers and API, then the server); returns what it stopped."""
        found = self.leftovers()
        server = [entry for entry in found if entry.name == "temporal"]
        for group in ([entry for entry in found if entry.name != "temporal"], server):
            _terminate(group, timeout)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        return found


def _terminate(group: list[Recorded], timeout: float) -> None:
    for entry in group:
        _signal(entry, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_same(entry) for entry in group):
        time.sleep(0.1)
    for entry in group:
        _signal(entry, signal.SIGKILL)


def _same(entry: Recorded) -> bool:
    return started(entry.pid) == entry.started


def _signal(entry: Recorded, sig: signal.Signals) -> None:
    if not _same(entry):
        return
    with contextlib.suppress(ProcessLookupError):
        # Each child leads its own process group (it started a session): its own children
        # go with it.
        if os.getpgid(entry.pid) == entry.pid:
            os.killpg(entry.pid, sig)
        else:
            os.kill(entry.pid, sig)
