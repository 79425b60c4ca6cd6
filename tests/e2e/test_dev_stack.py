"""`sweeps dev` brings up the embedded stack and Ctrl-C takes all of it down."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from app.embedded import free_port, port_is_open

pytestmark = pytest.mark.e2e


def test_dev_stack_starts_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port, ui_port, api_port = free_port(), free_port(), free_port()
    argv = [
        sys.executable, "-m", "app.cli", "dev", "--data-dir", str(tmp_path),
        "--temporal-port", str(port), "--ui-port", str(ui_port), "--api-port", str(api_port),
    ]  # fmt: skip
    dev = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        assert dev.stderr is not None
        banner = ""
        deadline = time.monotonic() + 90
        while "Ctrl-C" not in banner and time.monotonic() < deadline:
            banner += dev.stderr.readline()
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
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=60) == 0
    finally:
        if dev.poll() is None:
            dev.kill()
    assert not port_is_open("127.0.0.1", port) and not port_is_open("127.0.0.1", api_port)
    assert (tmp_path / "temporal.db").exists()  # state persists for the next start
    # ... in write-ahead-log mode (app.embedded.TEMPORAL_SQLITE_PRAGMAS), kept in the file.
    with closing(sqlite3.connect(tmp_path / "temporal.db")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    logs = {p.name for p in (tmp_path / "logs").iterdir()}
    assert logs == {"temporal.log", "orchestration.log", "training.log", "api.log"}
    assert (tmp_path / "index.db").exists()  # the results index was migrated in place


def wait_ready(url: str, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response.json()
        time.sleep(0.5)
