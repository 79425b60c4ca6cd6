"""Children of a killed supervisor: they die with it (Linux), or the next start of the same
data directory stops them; a process that only shares a recorded pid is never signalled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli.orphans import RECORD_NAME, ChildRecord, DataDirInUse, started

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process identity from /proc")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while started(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


_SUPERVISOR = """
import subprocess, sys, time
from pathlib import Path
from app.cli.orphans import ChildRecord, die_with_parent
data_dir = Path(sys.argv[1])
{body}
print(child.pid, flush=True)
time.sleep(60)
"""


def supervise(data_dir: Path, body: str) -> tuple[subprocess.Popen[str], int]:
    """A supervisor process running ``body`` (which starts ``child``); returns it and the
    child's pid once the child runs."""
    script = _SUPERVISOR.format(body=textwrap.dedent(body))
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def test_started_tells_a_running_process_from_a_gone_one(
    sleeper: subprocess.Popen[bytes],
) -> None:
    identity = started(sleeper.pid)
    assert identity is not None and identity == started(sleeper.pid)
    sleeper.kill()
    sleeper.wait()
    assert started(sleeper.pid) is None


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    body = """
    child = subprocess.Popen(["sleep", "60"], start_new_session=True, preexec_fn=die_with_parent())
    """
    supervisor, child = supervise(tmp_path, body)
    assert started(child) is not None
    supervisor.kill()
    supervisor.wait()
    assert gone_within(child, 10)


def test_next_start_stops_what_a_killed_supervisor_left(tmp_path: Path) -> None:
    body = """
    record = ChildRecord(data_dir)
    record.acquire()
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    record.write([("training", child.pid)])
    """
    supervisor, child = supervise(tmp_path, body)
    try:
        with pytest.raises(DataDirInUse, match=f"pid {supervisor.pid}"):
            ChildRecord(tmp_path).acquire()  # its supervisor still runs: hands off
        assert started(child) is not None
        supervisor.kill()
        supervisor.wait()
        assert started(child) is not None  # no die_with_parent here: it outlived its parent
        record = ChildRecord(tmp_path)
        record.acquire()  # the dead supervisor's lock went with it
        stopped = record.stop_leftovers(timeout=5)
        assert [(entry.name, entry.pid) for entry in stopped] == [("training", child)]
        assert gone_within(child, 5)
        assert not (tmp_path / RECORD_NAME).exists()
        record.release()
    finally:
        supervisor.kill()
        if started(child) is not None:
            os.kill(child, signal.SIGKILL)


def test_a_pid_now_held_by_another_process_is_left_alone(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    # The recorded child is gone and its pid went to an unrelated process: the start time
    # tells them apart.
    identity = started(sleeper.pid)
    assert identity is not None
    boot, ticks = identity.rsplit(":", 1)
    entries = [
        {"name": "api", "pid": sleeper.pid, "started": f"{boot}:{int(ticks) - 1}"},
        {"name": "temporal", "pid": sleeper.pid, "started": f"another-boot:{ticks}"},
    ]
    (tmp_path / RECORD_NAME).write_text(json.dumps(entries))
    record = ChildRecord(tmp_path)
    record.acquire()
    assert record.stop_leftovers(timeout=1) == []
    record.release()
    time.sleep(0.2)
    assert sleeper.poll() is None
