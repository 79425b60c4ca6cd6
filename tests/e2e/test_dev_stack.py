"""`sweeps dev` brings up the embedded stack and Ctrl-C takes all of it down; so does SIGTERM,
and so does Ctrl-C when the shell that started it ignored SIGINT; the children of a supervisor
killed outright die with it."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from app.cli.embedded import free_port, port_is_open

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(sys.platform != "linux", reason="reads processes from /proc"),
]


def test_dev_stack_starts_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    ports = free_ports()
    port, _, api_port = ports
    dev, banner = start_dev(tmp_path, ports)
    try:
        assert f"Temporal at 127.0.0.1:{port}" in banner, banner
        assert f"API at http://127.0.0.1:{api_port}" in banner
        ready = wait_ready(f"http://127.0.0.1:{api_port}/readyz")
        assert ready == {"status": "ok", "checks": {"index": "ok", "temporal": "ok"}}
        assert httpx.get(f"http://127.0.0.1:{api_port}/docs").status_code == 200
        # Authentication is on: the banner's session token works, no token does not.
        # One session token (printed on its own and in the export line for other shells).
        (token,) = set(re.findall(r"swp_[A-Za-z0-9_-]{43}", banner))
        assert f"export SWEEPS_API_URL=http://127.0.0.1:{api_port} SWEEPS_TOKEN={token}" in banner
        sweeps = f"http://127.0.0.1:{api_port}/sweeps"
        assert httpx.get(sweeps).status_code == 401
        assert httpx.get(sweeps, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        stop_and_check(dev, signal.SIGINT, ports)
    finally:
        if dev.poll() is None:
            dev.kill()
    assert (tmp_path / "temporal.db").exists()  # state persists for the next start
    # ... in write-ahead-log mode (app.cli.embedded.TEMPORAL_SQLITE_PRAGMAS), kept in the file.
    with closing(sqlite3.connect(tmp_path / "temporal.db")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    logs = {p.name for p in (tmp_path / "logs").iterdir()}
    assert logs == {"temporal.log", "orchestration.log", "training.log", "api.log"}
    assert (tmp_path / "index.db").exists()  # the results index was migrated in place


def test_sigterm_stops_everything_as_ctrl_c_does(tmp_path: Path) -> None:
    ports = free_ports()
    dev, _ = start_dev(tmp_path, ports)
    stop_and_check(dev, signal.SIGTERM, ports)


def test_ctrl_c_stops_a_stack_started_with_sigint_ignored(tmp_path: Path) -> None:
    # What a background job of a non-interactive shell inherits (`sweeps dev &` in a script).
    ignoring_sigint = ("bash", "-c", 'trap "" INT; exec "$@"', "bash")
    ports = free_ports()
    dev, _ = start_dev(tmp_path, ports, argv_prefix=ignoring_sigint)
    stop_and_check(dev, signal.SIGINT, ports)


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    # SIGKILL leaves the supervisor no time to stop anything: the kernel tells the children
    # (app.cli.orphans.die_with_parent). What a platform without that leaves behind, the next
    # start of the data directory stops: tests/unit/test_orphans.py.
    ports = free_ports()
    dev, _ = start_dev(tmp_path, ports)
    children = stack_processes(dev)
    dev.kill()
    dev.wait()
    deadline = time.monotonic() + 30
    while [pid for pid in children if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if alive(pid)]
    assert not [port for port in ports if port_is_open("127.0.0.1", port)]


def stop_and_check(dev: subprocess.Popen[str], sig: signal.Signals, ports: Iterable[int]) -> None:
    """Stop a running `sweeps dev` with ``sig``: it exits as after Ctrl-C, within the same
    bound, and takes every process it started and every port it held with it."""
    children = stack_processes(dev)
    try:
        dev.send_signal(sig)
        assert dev.wait(timeout=60) == 0
    finally:
        if dev.poll() is None:
            dev.kill()
    assert not [pid for pid in children if alive(pid)]
    assert not [port for port in ports if port_is_open("127.0.0.1", port)]


def stack_processes(dev: subprocess.Popen[str]) -> list[int]:
    """The server, both workers and the API: the supervisor's children."""
    children = Path(f"/proc/{dev.pid}/task/{dev.pid}/children").read_text().split()
    assert len(children) == 4, children
    return [int(pid) for pid in children]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"  # an unreaped zombie holds nothing


def free_ports() -> tuple[int, int, int]:
    """Temporal, Web UI and API ports."""
    return free_port(), free_port(), free_port()


def start_dev(
    data_dir: Path, ports: tuple[int, int, int], argv_prefix: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[str], str]:
    """`sweeps dev` as a subprocess (run through ``argv_prefix``, if any), once its banner
    says it is up; returns the process and the banner."""
    port, ui_port, api_port = ports
    argv = [
        *argv_prefix, sys.executable, "-m", "app.cli", "dev", "--data-dir", str(data_dir),
        "--temporal-port", str(port), "--ui-port", str(ui_port), "--api-port", str(api_port),
    ]  # fmt: skip
    dev = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    assert dev.stderr is not None
    banner = ""
    deadline = time.monotonic() + 90
    while "Ctrl-C" not in banner and time.monotonic() < deadline and dev.poll() is None:
        banner += dev.stderr.readline()
    if "Ctrl-C" not in banner:
        dev.kill()
        raise AssertionError(f"sweeps dev did not come up: {banner}{dev.stderr.read()}")
    return dev, banner


def wait_ready(url: str, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response.json()
        time.sleep(0.5)
