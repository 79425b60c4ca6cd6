"""A private PostgreSQL server for drills that stop the database: the machine's shared one
keeps serving every other test while this one goes down and comes back."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found: install the "
            "postgresql package to run the database drill"
        )
    return Path(initdb).parent


class PostgresCluster:
    """initdb'd into a temporary directory, listening on 127.0.0.1:``port`` with trust auth.

    PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="sweeps-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            cwd=self.root,
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> None:
        self._psql(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        self._psql(f'DROP DATABASE "{name}" WITH (FORCE)')

    def _psql(self, sql: str) -> None:
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", sql)

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
